#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Generate the test PKI into OUTDIR with the openssl command line tool.
#   tests/lib/pki.sh OUTDIR
# Keys are ECDSA P-256 (fast). A previous test PKI in OUTDIR is wiped and
# regenerated, so running it twice gives the same set of files.
#
#   root.crt/root.key        trusted root CA
#   int.crt/int.key          intermediate CA signed by root
#   root2.crt                a second root (the "unknown CA"); cas.pem = root2+root
#   server.crt/.key          SAN DNS:server.test, EKU serverAuth, signed by int
#   client.crt/.key          SAN DNS:client.test, EKU clientAuth, signed by int
#   server-chain.pem         server + int;  server-chain-rev.pem: int + server
#   client-chain.pem         client + int
#   server-expired, server-notyet, server-soon (10 days left), server-unknownca,
#   server-revoked, server-noeku (clientAuth only), server-sha1,
#   server-wronghost (SAN other.test), server-cnonly (CN only),
#   server-wildcard (SAN *.test): each NAME.crt plus NAME-chain.pem (+ int),
#   all with server.key; client-noeku (serverAuth only) and client-expired
#   with client.key.
#   crl.pem                  CRLs of int (revokes server-revoked) and root
#   server.der/server-key.der  DER forms; server.p12 PKCS#12 without password
set -eu

out=${1:?usage: pki.sh OUTDIR}
mkdir -p "$out"
# Only ever wipe a directory this script made (or an empty one).
if [ -n "$(ls -A "$out")" ] && [ ! -e "$out/.ktlsd-test-pki" ]; then
	echo "pki.sh: $out is not empty and not a test PKI; refusing to wipe it" >&2
	exit 1
fi
rm -rf "${out:?}"/*
cd "$out"
: > .ktlsd-test-pki

cat > pki.cnf <<'CNF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
default_ca = int_ca
[ int_ca ]
dir = ./intdb
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = ./int.crt
private_key = ./int.key
default_md = sha256
default_days = 365
default_crl_days = 3650
policy = policy_any
unique_subject = no
email_in_dn = no
[ root_ca ]
dir = ./rootdb
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = ./root.crt
private_key = ./root.key
default_md = sha256
default_days = 3650
default_crl_days = 3650
policy = policy_any
unique_subject = no
email_in_dn = no
[ policy_any ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ server ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:server.test
[ client ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:client.test
[ server_noeku ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:server.test
[ client_noeku ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:client.test
[ wronghost ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.test
[ cnonly ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
[ wildcard ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:*.test
CNF

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
for k in root root2 int server client; do key $k.key; done
for d in rootdb intdb; do mkdir $d; : > $d/index.txt; echo 1000 > $d/serial; echo 01 > $d/crlnumber; done

openssl req -config pki.cnf -x509 -new -key root.key -subj "/CN=ktlsd Test Root CA" \
	-days 3650 -extensions v3_ca -out root.crt
openssl req -config pki.cnf -x509 -new -key root2.key -subj "/CN=ktlsd Other Root CA" \
	-days 3650 -extensions v3_ca -out root2.crt
openssl req -config pki.cnf -new -key int.key -subj "/CN=ktlsd Test Intermediate CA" -out int.csr
openssl ca -config pki.cnf -name root_ca -batch -notext -extensions v3_ca \
	-in int.csr -out int.crt 2>/dev/null

# sign NAME KEY CN EXTENSIONS [openssl ca options...]
sign() {
	n=$1 k=$2 cn=$3 ext=$4
	shift 4
	openssl req -config pki.cnf -new -key "$k" -subj "/CN=$cn" -out "$n.csr"
	openssl ca -config pki.cnf -batch -notext -extfile pki.cnf -extensions "$ext" \
		-in "$n.csr" -out "$n.crt" "$@" 2>/dev/null
	cat "$n.crt" int.crt > "$n-chain.pem"
}
sign server server.key server.test server
sign client client.key client.test client
sign server-expired server.key server.test server -startdate 20200101000000Z -enddate 20210101000000Z
sign client-expired client.key client.test client -startdate 20200101000000Z -enddate 20210101000000Z
sign server-notyet server.key server.test server -startdate 20900101000000Z -enddate 20910101000000Z
sign server-soon server.key server.test server -days 10
sign server-revoked server.key server.test server
sign server-noeku server.key server.test server_noeku
sign client-noeku client.key client.test client_noeku
sign server-sha1 server.key server.test server -md sha1
sign server-wronghost server.key server.test wronghost
sign server-cnonly server.key server.test cnonly
sign server-wildcard server.key '*.test' wildcard

# Signed by the other root: no chain to the trusted root.
openssl req -config pki.cnf -new -key server.key -subj "/CN=server.test" -out unk.csr
openssl x509 -req -in unk.csr -CA root2.crt -CAkey root2.key -CAcreateserial \
	-extfile pki.cnf -extensions server -days 365 -out server-unknownca.crt 2>/dev/null
cp server-unknownca.crt server-unknownca-chain.pem

cat int.crt server.crt > server-chain-rev.pem
cat root2.crt root.crt > cas.pem

openssl ca -config pki.cnf -revoke server-revoked.crt 2>/dev/null
openssl ca -config pki.cnf -gencrl -out int.crl 2>/dev/null
openssl ca -config pki.cnf -name root_ca -gencrl -out root.crl 2>/dev/null
cat int.crl root.crl > crl.pem

openssl x509 -in server.crt -outform DER -out server.der
openssl pkey -in server.key -outform DER -out server-key.der
openssl pkcs12 -export -in server.crt -inkey server.key -certfile int.crt \
	-passout pass: -out server.p12
chmod 600 ./*.key
rm -f ./*.csr
