#!/usr/bin/env bash
# The full benchmark: builds bench/.venv-pydantic (pydantic v2 + datamodel-code-generator, kept out
# of the project's own dependencies), generates a model from the spec, and runs bench/bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x bench/.venv-pydantic/bin/python ]; then
  "$PY" -m venv bench/.venv-pydantic
  bench/.venv-pydantic/bin/python -m pip install -q "pydantic>=2" datamodel-code-generator
fi
bench/.venv-pydantic/bin/datamodel-codegen --input spec/nexus-v1-micro_deposits.openapi.yaml \
  --input-file-type openapi --output-model-type pydantic_v2.BaseModel --output bench/.venv-pydantic/mx_model.py
PYTHONPATH=bench/.venv-pydantic bench/.venv-pydantic/bin/python bench/bench.py --pydantic mx_model:MicrodepositsResponse "$@"
