# tests/lib/repo.sh: repositories for the suites that drive the real programs (sourced).
#
#   mkca NAME [LINES...]   a fresh repository and CA in $T/NAME made by $ADMIN init, its
#                          scep.conf holding LINES and, unless LINES set them, the static
#                          challenge secret123 and ScepAutoApproveEnrollment = YES; sets
#                          C (the config), R (the repository), CA (ca/ca.pem). The CA's
#                          subject is "/CN=$MKCA_TITLE NAME/O=Test". Returns 1 if init fails.
#   ossl_ca_conf REPO DIR  an `openssl ca` configuration over REPO's index.txt and CA,
#                          written to DIR/openssl.cnf with its crlnumber and new
#                          certificates in DIR (the repository's own counters stay put)

mkca() {
	local name=$1 d=$T/$1 l k; shift
	local defaults=("ScepChallengePassword = secret123" "ScepAutoApproveEnrollment = YES")
	mkdir -p "$d"
	{
		echo "ScepRepository = $d/repo"
		# A default is left out when the caller sets the same key (duplicates are errors).
		for l in "${defaults[@]}"; do
			k=${l%% *}
			printf '%s\n' "$@" | grep -qi "^$k *=" || echo "$l"
		done
		for l in "$@"; do echo "$l"; done
	} >"$d/scep.conf"
	C=$d/scep.conf; R=$d/repo; CA=$d/repo/ca/ca.pem
	"$ADMIN" -c "$d/scep.conf" init --subject "/CN=${MKCA_TITLE:-Test CA} $name/O=Test" \
	    >/dev/null 2>"$d/init.err" || { echo "FAIL: setup: init $name: $(cat "$d/init.err")"; return 1; }
}

ossl_ca_conf() {
	local repo=$1 dir=$2
	[ -f "$dir/crlnumber" ] || cp "$repo/crlnumber" "$dir/crlnumber" 2>/dev/null ||
	    echo 01 >"$dir/crlnumber"
	cat >"$dir/openssl.cnf" <<EOC
[ ca ]
default_ca = scep
[ scep ]
dir = $repo
database = $repo/index.txt
certificate = $repo/ca/ca.pem
private_key = $repo/ca/ca.key
crlnumber = $dir/crlnumber
new_certs_dir = $dir
default_md = sha256
default_crl_days = 10
EOC
}
