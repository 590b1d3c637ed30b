"""Packing of the example experts, shared by train-example-experts.py (after training) and
repack-example-experts.py (manifest or package changes without retraining; needs no torch).

An .expert is a deterministic tar.gz (mtime/uid 0, sorted) of manifest.json, the extra files below and
adapter/."""
import gzip
import io
import json
import os
import tarfile

from expert_data import draft_corpus

# training.decoding keys each expert ships with for what its package holds: structured output
# (docs/GRAMMAR.md) and the draft corpus lookup drafts from (docs/SPECULATIVE.md).
PACKAGE_DECODING = {
    "json": {"use_grammar": True, "grammar_type": "json-schema", "grammar_file": "schema.json",
             "draft_corpus": "draft-corpus.txt"},
    "sql": {"use_grammar": True, "grammar_type": "sql-postgres", "draft_corpus": "draft-corpus.txt"},
}

PERSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "person",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "city": {"type": "string", "minLength": 1, "maxLength": 64},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}

# Files beside manifest.json in a package.
EXTRA_FILES = {
    "json": {"schema.json": json.dumps(PERSON_SCHEMA, indent=2) + "\n"},
}


def write_extra_files(name, d):
    files = dict(EXTRA_FILES.get(name, {}))
    if PACKAGE_DECODING.get(name, {}).get("draft_corpus"):
        files[PACKAGE_DECODING[name]["draft_corpus"]] = draft_corpus(name)
    for fn, text in files.items():
        with open(os.path.join(d, fn), "w", encoding="utf-8") as f:
            f.write(text)


def pack(d, out):
    """tar.gz of manifest.json, extra files and adapter/ at the archive root, deterministic."""
    extra = sorted(x for x in os.listdir(d) if x not in ("manifest.json", "adapter") and os.path.isfile(os.path.join(d, x)))
    entries = (["manifest.json"] + extra + ["adapter"]
               + sorted("adapter/" + x for x in os.listdir(os.path.join(d, "adapter"))))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for e in entries:
            p = os.path.join(d, e)
            ti = tarfile.TarInfo(e)
            ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = 0, 0, 0, "", ""
            if os.path.isdir(p):
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            else:
                ti.mode = 0o644
                with open(p, "rb") as f:
                    data = f.read()
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    with open(out, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
            gz.write(raw.getvalue())
    return os.path.getsize(out)
