#!/bin/bash
# mkcerts.sh DIR -- a throw-away test PKI made with the openssl CLI.
#
# Leaves in DIR (all keys unencrypted, mode 0600):
#   ca.pem ca.key                 test CA ("starttls-proxy test CA")
#   server.pem server.key         RSA 2048, localhost + mail.test + 127.0.0.1
#   server-ec.pem server-ec.key   ECDSA P-256, same names
#   good.pem good.key             mx.test.example, signed by the CA
#   wrongname.pem wrongname.key   other.example, signed by the CA
#   expired.pem expired.key       mx.test.example, valid 2000-2001 only
#   selfsigned.pem selfsigned.key mx.test.example, self-signed
#
# Idempotent: files already present are kept (delete DIR to start over).
# Certificates are leaf-only; ca.pem is the trust anchor for clients.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077

days=3650

# ext_file NAME SAN... -- extension file for a server leaf certificate.
ext_file() {
	local out=$1
	shift
	{
		echo "basicConstraints = critical, CA:FALSE"
		echo "keyUsage = critical, digitalSignature, keyEncipherment"
		echo "extendedKeyUsage = serverAuth, clientAuth"
		echo "subjectKeyIdentifier = hash"
		echo "authorityKeyIdentifier = keyid"
		local IFS=,
		echo "subjectAltName = $*"
	} >"$out"
}

newkey() { # newkey FILE rsa|ec
	if [ "$2" = ec ]; then
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null
	else
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
	fi
}

if [ ! -s ca.pem ] || [ ! -s ca.key ]; then
	newkey ca.key rsa
	openssl req -x509 -new -key ca.key -sha256 -days "$days" \
		-subj "/O=starttls-proxy tests/CN=starttls-proxy test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out ca.pem
	# A CA made anew invalidates every leaf signed by the old one.
	rm -f server.pem server-ec.pem good.pem wrongname.pem expired.pem
fi

# leaf NAME rsa|ec CN SAN...  -- CA-signed leaf, valid from now.
leaf() {
	local name=$1 alg=$2 cn=$3
	shift 3
	[ -s "$name.pem" ] && [ -s "$name.key" ] && return 0
	[ -s "$name.key" ] || newkey "$name.key" "$alg"
	ext_file "$name.ext" "$@"
	openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
	openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key \
		-set_serial "0x$(openssl rand -hex 12)" -sha256 -days "$days" \
		-extfile "$name.ext" -out "$name.pem" 2>/dev/null
	rm -f "$name.csr" "$name.ext"
}

leaf server rsa localhost DNS:localhost DNS:mail.test IP:127.0.0.1
leaf server-ec ec localhost DNS:localhost DNS:mail.test IP:127.0.0.1
leaf good rsa mx.test.example DNS:mx.test.example
leaf wrongname rsa other.example DNS:other.example

# expired: "openssl x509 -days" takes no past dates, "openssl ca" does.
if [ ! -s expired.pem ] || [ ! -s expired.key ]; then
	newkey expired.key rsa
	ext_file expired.ext DNS:mx.test.example
	rm -rf ca.db && mkdir ca.db
	: >ca.db/index.txt
	openssl rand -hex 12 >ca.db/serial
	cat >ca.db/ca.cnf <<-EOF
		[ ca ]
		default_ca = test_ca
		[ test_ca ]
		database = ca.db/index.txt
		new_certs_dir = ca.db
		serial = ca.db/serial
		certificate = ca.pem
		private_key = ca.key
		default_md = sha256
		policy = any
		unique_subject = no
		[ any ]
		commonName = supplied
	EOF
	openssl req -new -key expired.key -subj "/CN=mx.test.example" -out expired.csr
	openssl ca -batch -config ca.db/ca.cnf -notext \
		-startdate 20000101000000Z -enddate 20010101000000Z \
		-extfile expired.ext -in expired.csr -out expired.pem 2>/dev/null
	rm -rf ca.db expired.csr expired.ext
fi

if [ ! -s selfsigned.pem ] || [ ! -s selfsigned.key ]; then
	newkey selfsigned.key rsa
	openssl req -x509 -new -key selfsigned.key -sha256 -days "$days" \
		-subj "/CN=mx.test.example" \
		-addext "subjectAltName=DNS:mx.test.example" \
		-addext "basicConstraints=critical,CA:FALSE" \
		-out selfsigned.pem
fi

# Certificates are public; keys stay 0600.
chmod 0644 ./*.pem
