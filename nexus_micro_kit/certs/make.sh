#!/bin/sh
# Regenerates the fake Nexus server's TLS certificate for the tls_untrusted scenario (run once; the
# outputs are committed). untrusted-cert.pem is self-signed and trusted by nobody: a client that
# verifies certificates (SEMANTICS S17, S22a) must refuse it. Its key is public on purpose: it
# protects nothing. SAN IP 127.0.0.1 and DNS localhost, so that verification fails on the issuer
# only, never on the name. Valid 2000-01-01 to 2125-01-01 (openssl ca, for a notBefore in the
# past whatever the generating machine's clock says).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/openssl.cnf" <<'CNF'
[ca]
default_ca = kit_ca
[kit_ca]
database = $ENV::TMPCA/index.txt
new_certs_dir = $ENV::TMPCA
serial = $ENV::TMPCA/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
CNF
export TMPCA="$tmp"
: > "$tmp/index.txt"
openssl rand -hex 8 > "$tmp/serial"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out untrusted-key.pem
openssl req -new -key untrusted-key.pem -subj "/CN=FakeNexus untrusted self-signed" -out "$tmp/leaf.csr"
openssl ca -batch -notext -config "$tmp/openssl.cnf" -extensions leaf_ext -selfsign -keyfile untrusted-key.pem \
  -startdate 20000101000000Z -enddate 21250101000000Z -in "$tmp/leaf.csr" -out untrusted-cert.pem
chmod 644 untrusted-key.pem untrusted-cert.pem
