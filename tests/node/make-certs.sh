#!/usr/bin/env bash
# Makes a throwaway CA and certificates for the TLS tests in directory $1:
#   ca.pem            the CA the nodes trust
#   node.pem/.key     a node certificate signed by that CA
#   rogue-ca.pem      another CA
#   rogue.pem/.key    a certificate signed by the other CA (must be refused)
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
quiet() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; }
make_ca() { # name
  quiet openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" \
    -keyout "$1.key" -out "$1.pem"
}
make_cert() { # name ca
  quiet openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" \
    -keyout "$1.key" -out "$1.csr"
  quiet openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
    -CAcreateserial -days 2 -out "$1.pem"
}
make_ca ca
make_ca rogue-ca
make_cert node ca
make_cert rogue rogue-ca
echo "$dir"
