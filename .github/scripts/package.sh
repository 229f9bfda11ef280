#!/usr/bin/env bash
# Packs one release archive: the binary, the README, the licence, the completion scripts and the
# man pages, in a folder named like the archive. The release workflow runs it for every target;
# the tests run it too, so the layout that `action.yml` and `cargo binstall` expect is checked.
#
#   package.sh TAG TARGET BINARY GENERATOR OUT_DIR
#
# TAG is the release tag (`v0.1.0`); BINARY is roster built for TARGET; GENERATOR is a roster
# binary this machine can run (the same one, or the Linux build when TARGET is another
# platform), which writes the completions and man pages: they do not depend on the platform.
# Prints the path of the archive: OUT_DIR/roster-TAG-TARGET.tar.gz, or .zip for Windows.
set -euo pipefail

if [ "$#" -ne 5 ]; then
    echo "usage: package.sh TAG TARGET BINARY GENERATOR OUT_DIR" >&2
    exit 1
fi
tag=$1 target=$2 binary=$3 generator=$4 out=$5
root=$(cd "$(dirname "$0")/../.." && pwd)

name="roster-$tag-$target"
exe=""
case "$target" in
    *-windows-*) exe=".exe" ;;
esac

mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dir="$stage/$name"
mkdir -p "$dir/completions" "$dir/man/man1"

cp "$binary" "$dir/roster$exe"
chmod 755 "$dir/roster$exe"
cp "$root/README.md" "$root/LICENSE" "$dir/"
"$generator" completions bash > "$dir/completions/roster.bash"
"$generator" completions zsh > "$dir/completions/_roster"
"$generator" completions fish > "$dir/completions/roster.fish"
"$generator" completions powershell > "$dir/completions/_roster.ps1"
"$generator" completions elvish > "$dir/completions/roster.elv"
"$generator" --quiet man --dir "$dir/man/man1" > /dev/null

out=$(cd "$out" && pwd)
case "$target" in
    *-windows-*)
        archive="$out/$name.zip"
        rm -f "$archive"
        (cd "$stage" && zip -qr "$archive" "$name")
        ;;
    *)
        archive="$out/$name.tar.gz"
        tar -C "$stage" -czf "$archive" "$name"
        ;;
esac
echo "$archive"
