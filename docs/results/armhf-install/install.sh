#!/bin/bash
# Runs inside the armhf system (run.sh copies it to /src): soxr, then bifsmn from /src/bifsmn.
set -e
export PIP_CERT=/etc/ssl/certs/host-ca.crt SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt
export CMAKE_BUILD_PARALLEL_LEVEL=2 PIP_FIND_LINKS=
echo "uname -m: $(uname -m); $(python3 --version); $(g++ --version | head -1); $(cmake --version | head -1)"
start=$(date +%s)
/opt/venv/bin/pip install soxr
echo "soxr built and installed in $(( $(date +%s) - start )) s"
start=$(date +%s)
/opt/venv/bin/pip install /src/bifsmn
echo "bifsmn built and installed in $(( $(date +%s) - start )) s"
