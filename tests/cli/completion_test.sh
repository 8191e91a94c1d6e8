#!/usr/bin/env bash
# packaging/zxvm.bash-completion: what it offers at a few typical points of a command line,
# and that it knows every noun, verb and verb option the CLI documents in its --help (so the
# two cannot drift apart). Session names come from a private daemon.
source "$(dirname "$0")/lib.sh"
: "${ZXVM_SOURCE_DIR:?}"

# The completion runs `zxvm session list`: the binary under test.
bindir=$TMP/bin
mkdir -p "$bindir"
ln -s "$ZXVM" "$bindir/zxvm"
PATH=$bindir:$PATH

# shellcheck source=../../packaging/zxvm.bash-completion
source "$ZXVM_SOURCE_DIR/packaging/zxvm.bash-completion"

# Readline's default word breaks: the completion must cope with ':' and '=' in them.
COMP_WORDBREAKS=$' \t\n"\'><=;|&(:'

# words WORD...: sorted, unique, on one line.
words()
{
	(($#)) && printf '%s\n' "$@" | sort -u | paste -sd ' '
}

# offers LINE: what completing at the end of LINE offers, sorted, on one line (in $got).
# COMP_WORDS is split on blanks only here; the completion reads COMP_LINE itself. Outside an
# interactive shell compopt complains; its options do not change the words.
offers()
{
	local line=$1
	COMP_LINE=$line
	COMP_POINT=${#line}
	read -ra COMP_WORDS <<<"$line"
	[[ $line == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_zxvm zxvm "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
	got=$(words "${COMPREPLY[@]}")
	last="completion of '$line'"
}

# expect_offers LINE WORDS: exactly WORDS (sorted).
expect_offers()
{
	offers "$1"
	# shellcheck disable=SC2086
	expect_eq "$(words $2)" "$got" "completion of '$1'"
}

# expect_offers_all LINE WORDS: at least WORDS.
expect_offers_all()
{
	offers "$1"
	local w
	for w in $2; do
		if [[ " $got " == *" $w "* ]]; then
			ok
		else
			fail "completion of '$1' lacks '$w' (offers: $got)"
		fi
	done
}

expect_offers_all "zxvm " "run session guest vmo vmar trap port vcpu handle stats --json --addr"
expect_offers "zxvm vc" "vcpu"
expect_offers "zxvm --json --session x --thread 2 vcpu wr" "write-state"
expect_offers "zxvm vcpu " "create enter kick interrupt read-state write-state"
expect_offers "zxvm vcpu write-state 5 --" "--data --help --json --kind --set --size"
expect_offers "zxvm vcpu write-state 5 --kind " "io state"
expect_offers "zxvm vcpu write-state 5 --set rc" "rcx="
expect_offers "zxvm trap set 1 --kind " "bell io mem"
expect_offers "zxvm vmar map 1 2 --perm rw" "rw rwx"
expect_offers "zxvm --thread " "1 2 3 4"
expect_offers "zxvm vmar map 1 2 --len " ""
expect_offers "zxvm run --" "--entry --exit-port --help --load --mem --serial-port --timeout"

touch "$TMP/image.bin" "$TMP/image.elf"
expect_offers "zxvm run $TMP/image" "$TMP/image.bin $TMP/image.elf"
expect_offers "zxvm vmo write 3 $TMP/image.b" "$TMP/image.bin"
# Readline replaces the text after the colon: the reply leaves "unix:" out.
expect_offers "zxvm --addr unix:$TMP/image.e" "$TMP/image.elf"
expect_offers "zxvm --addr un" "unix:"

# Every noun and verb of `zxvm --help`, and every option in each verb's --help, is offered.
# A help line names a noun and either its verbs (a|b|c) or, for a one-word verb, its
# argument or summary; `zxvm NOUN WORD --help` tells which.
"$ZXVM" --help | sed -n '/^Verbs/,/^$/p' | awk 'NR > 1 && NF { print $1, $2 }' >"$TMP/verbs"
while read -r noun rest; do
	expect_offers_all "zxvm " "$noun"
	verbs=${rest//|/ }
	first=${verbs%% *}
	if [[ ! $first =~ ^[a-z-]+$ ]] ||
		! "$ZXVM" "$noun" "$first" --help | head -1 | grep -q "\.\.\. $noun $first"; then
		verbs=
	fi
	[[ -n $verbs ]] && expect_offers_all "zxvm $noun " "$verbs"
	for verb in ${verbs:-""}; do
		# Global options a verb's help mentions (--thread) are completed before the verb.
		opts=$("$ZXVM" $noun $verb --help | grep -o -- '--[a-z][a-z-]*' |
			grep -vx -e --thread -e --session -e --addr | sort -u | paste -sd ' ')
		expect_offers_all "zxvm $noun${verb:+ $verb} x --" "$opts --help"
	done
done <"$TMP/verbs"
expect_eq 10 "$(wc -l <"$TMP/verbs")" "nouns in zxvm --help"

# Session names from the daemon the command line (or $ZXVM_ADDR) names.
require_python
start_zxvmd
zx session open build-42
if ((rc == 0)); then
	ok
	expect_offers "zxvm --session bu" "build-42"
	expect_offers "zxvm session close b" "build-42"
	daemon_addr=$ZXVM_ADDR
	unset ZXVM_ADDR
	expect_offers "zxvm --addr $daemon_addr session close b" "build-42"
	expect_offers "zxvm --addr unix:$TMP/nothing-here session close b" ""
else
	echo "note: session names not checked: zxvm session open: $err"
fi

finish
