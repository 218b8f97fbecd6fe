#!/bin/sh
# Regenerates the static test certificates of tests/transport (run once; the outputs are committed).
#   ca.pem        test CA "nexus-micro transport test CA" (its key is thrown away: nothing else is signed)
#   leaf.pem/.key server certificate for IP 127.0.0.1, DNS localhost and DNS nexus-micro.test, signed by ca.pem
#   other-ca.pem  an unrelated CA: trusting it instead of ca.pem must fail verification (S17)
# CPython 3.13 sets VERIFY_X509_STRICT by default, so the CAs have basicConstraints critical CA:TRUE and
# keyUsage keyCertSign, and the leaf has a SAN and an authorityKeyIdentifier. Valid 2000-01-01 to
# 2125-01-01 (openssl ca, for a notBefore in the past whatever the generating machine's clock says).
# nexus-micro.test (RFC 2606 reserved) is for the proxy tests: a non-loopback name that the test's CONNECT
# proxy maps to 127.0.0.1, so that no loopback bypass in the client can hide the proxy.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/openssl.cnf" <<'CNF'
[ca]
default_ca = test_ca
[test_ca]
database = $ENV::TMPCA/index.txt
new_certs_dir = $ENV::TMPCA
serial = $ENV::TMPCA/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:nexus-micro.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF
export TMPCA="$tmp"
: > "$tmp/index.txt"
openssl rand -hex 8 > "$tmp/serial"
sign() {  # sign CSR OUT EXTENSIONS [ca options...]
  csr=$1 out=$2 ext=$3
  shift 3
  openssl ca -batch -notext -config "$tmp/openssl.cnf" -extensions "$ext" \
    -startdate 20000101000000Z -enddate 21250101000000Z -in "$csr" -out "$out" "$@"
}
key() {  # key FILE: a new P-256 key
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

for name in ca other-ca; do
  key "$tmp/$name.key"
  if [ "$name" = ca ]; then cn="nexus-micro transport test CA"; else cn="nexus-micro unrelated test CA"; fi
  openssl req -new -key "$tmp/$name.key" -subj "/CN=$cn" -out "$tmp/$name.csr"
  sign "$tmp/$name.csr" "$name.pem" ca_ext -selfsign -keyfile "$tmp/$name.key"
done

key leaf.key
openssl req -new -key leaf.key -subj "/CN=127.0.0.1" -out "$tmp/leaf.csr"
sign "$tmp/leaf.csr" leaf.pem leaf_ext -cert ca.pem -keyfile "$tmp/ca.key"
chmod 644 leaf.key
openssl verify -x509_strict -CAfile ca.pem leaf.pem
