#!/usr/bin/env bash
# docs/zxvm.1 and docs/zxvmd.8: they render without warnings, carry the version the programs
# print, and mention every verb and option the programs' --help texts list (so a new option
# without documentation fails here). `cmake --install` puts them and the bash completion
# where man and bash-completion look.
source "$(dirname "$0")/lib.sh"
: "${ZXVM_SOURCE_DIR:?}" "${ZXVM_BINARY_DIR:?}"

command -v groff >/dev/null || skip "groff is needed to render the man pages"
man1=$ZXVM_SOURCE_DIR/docs/zxvm.1
man8=$ZXVM_SOURCE_DIR/docs/zxvmd.8

# render PAGE: plain ASCII text, wide, without hyphenation or overstriking.
render()
{
	LC_ALL=C groff -man -Tascii -P-cbou -rLL=250n -rHY=0 "$1"
}

for page in "$man1" "$man8"; do
	warnings=$(LC_ALL=C groff -man -ww -z "$page" 2>&1)
	expect_eq "" "$warnings" "groff warnings for ${page##*/}"
done

text1=$(render "$man1")
text8=$(render "$man8")
expect_match '^ZXVM\(1\)' "$text1" "zxvm.1 title"
expect_match '^ZXVMD\(8\)' "$text8" "zxvmd.8 title"
expect_match $'\nNAME\n +zxvm - ' "$text1" "zxvm.1 NAME section"
expect_match $'\nNAME\n +zxvmd - ' "$text8" "zxvmd.8 NAME section"
expect_match "$("$ZXVM" --version)" "$text1" "zxvm.1 names the version of zxvm --version"
daemon_version=$("$ZXVMD" --version)
expect_match "zxvm ${daemon_version#zxvmd }" "$text8" "zxvmd.8 names the daemon's version"

# mentions TEXT WORD...: each WORD occurs in TEXT.
mentions()
{
	local text=$1 page=$2 w
	shift 2
	for w; do
		if [[ $text == *"$w"* ]]; then ok; else fail "$page does not mention '$w'"; fi
	done
}

# zxvmd: every option of --help.
mentions "$text8" zxvmd.8 $("$ZXVMD" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)

# zxvm: the global options, every noun and verb, and each verb's options.
mentions "$text1" zxvm.1 $("$ZXVM" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
mentions "$text1" zxvm.1 $("$ZXVM" run --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
while read -r noun rest; do
	for verb in ${rest//|/ }; do
		[[ $verb =~ ^[a-z-]+$ ]] || continue
		"$ZXVM" "$noun" "$verb" --help | head -1 | grep -q "\.\.\. $noun $verb" || continue
		mentions "$text1" zxvm.1 "$noun $verb" \
			$("$ZXVM" "$noun" "$verb" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
	done
done < <("$ZXVM" --help | sed -n '/^Verbs/,/^$/p' | awk 'NR > 1 && NF { print $1, $2 }')
mentions "$text1" zxvm.1 "zxvm run" stats ZXVM_ADDR ZXVM_TLS_CA 124 130

# cmake --install: the pages and the completion land in the standard places. DESTDIR keeps
# everything in the temporary directory, also what installs to absolute paths (/etc).
dest=$TMP/dest
if DESTDIR=$dest cmake --install "$ZXVM_BINARY_DIR" --prefix /usr >"$TMP/install.log" 2>&1
then
	ok
	for f in share/man/man1/zxvm.1 share/man/man8/zxvmd.8 \
		share/bash-completion/completions/zxvm; do
		if [[ -s $dest/usr/$f ]]; then ok; else fail "cmake --install did not install $f"; fi
	done
else
	fail "cmake --install failed: $(tail -3 "$TMP/install.log")"
fi

finish
