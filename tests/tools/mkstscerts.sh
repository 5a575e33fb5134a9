#!/bin/bash
# mkstscerts.sh DIR [DOMAIN] -- certificates for an MTA-STS policy host
# (tests/tools/stshost.py), made with the openssl CLI. DOMAIN defaults to
# lab.test.
#
# Leaves in DIR (keys unencrypted, mode 0600):
#   ca.pem ca.key             the lab CA (the fetcher's mta_sts_ca_file)
#   good.pem good.key         mta-sts.DOMAIN, signed by the lab CA
#   wrongname.pem/.key        mta-sts.other.test, signed by the lab CA
#   expired.pem/.key          mta-sts.DOMAIN, valid 2000-2001 only
#   untrusted.pem/.key        mta-sts.DOMAIN, signed by another CA
#   other-ca.pem other-ca.key that other CA (not trusted by the fetcher)
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 DIR [DOMAIN]" >&2
	exit 2
fi
dir=$1
domain=${2:-lab.test}
mkdir -p "$dir"
cd "$dir"
umask 077

newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null
}

ca() { # ca NAME CN
	newkey "$1.key"
	openssl req -x509 -new -key "$1.key" -sha256 -days 3650 \
		-subj "/O=starttls-proxy tests/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$1.pem" 2>/dev/null
}

ext() { # ext FILE NAME
	cat >"$1" <<-EOF
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = serverAuth
		subjectAltName = DNS:$2
	EOF
}

leaf() { # leaf NAME HOST CA
	newkey "$1.key"
	ext "$1.ext" "$2"
	openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
	openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" \
		-set_serial "0x$(openssl rand -hex 12)" -sha256 -days 3650 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

ca ca "MTA-STS lab CA"
ca other-ca "some other CA"
leaf good "mta-sts.$domain" ca
leaf wrongname "mta-sts.other.test" ca
leaf untrusted "mta-sts.$domain" other-ca

# expired: "openssl x509" (3.0) takes no dates in the past, "openssl ca"
# does.
newkey expired.key
ext expired.ext "mta-sts.$domain"
rm -rf ca.db && mkdir ca.db
: >ca.db/index.txt
openssl rand -hex 12 >ca.db/serial
cat >ca.db/ca.cnf <<-EOF
	[ ca ]
	default_ca = lab_ca
	[ lab_ca ]
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
openssl req -new -key expired.key -subj "/CN=mta-sts.$domain" \
	-out expired.csr 2>/dev/null
openssl ca -batch -config ca.db/ca.cnf -notext \
	-startdate 20000101000000Z -enddate 20010101000000Z \
	-extfile expired.ext -in expired.csr -out expired.pem 2>/dev/null
rm -rf ca.db expired.csr expired.ext
chmod 0644 ./*.pem
