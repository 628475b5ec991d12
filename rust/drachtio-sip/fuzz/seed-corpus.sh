#!/bin/sh
# Fills corpus/parse and corpus/framer from the SIP torture messages in
# tests/data/sip (RFC 4475, RFC 5118). Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../../../tests/data/sip"
mkdir -p "$here/corpus/parse" "$here/corpus/framer"
for f in "$data"/*/*.dat; do
    name=$(basename "$f")
    cp "$f" "$here/corpus/parse/$name"
    # framer inputs: limits 16 KiB header / 4 KiB body, read-size seed 7, the
    # message twice with a ping between.
    {
        printf '\000\100\000\020\007'
        cat "$f"
        printf '\r\n\r\n'
        cat "$f"
    } > "$here/corpus/framer/$name"
done
echo "seeded $(ls "$here/corpus/parse" | wc -l) files per target"
