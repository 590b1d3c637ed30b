#!/usr/bin/env python3
"""Regenerates the generated parts of docs/CLI.md and docs/CONFIG.md from the
built hive-host (--help and --print-config), so the docs list every flag and
key. tests/e2e checks that every configuration key is documented.
Usage: python3 scripts/update-docs.py [path/to/hive-host]"""
import os
import re
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
host = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build", "bin", "hive-host")
env = dict(os.environ, HIVE_CONFIG="/dev/null")


def out(*args):
    return subprocess.run([host, *args], capture_output=True, text=True, env=env, check=True).stdout


def replace_block(path, marker, text):
    doc = open(path).read()
    pat = re.compile(r"(<!-- %s -->\n```\n).*?(```\n)" % re.escape(marker), re.S)
    if not pat.search(doc):
        sys.exit("%s: marker <!-- %s --> followed by a ``` block not found" % (path, marker))
    doc = pat.sub(lambda m: m.group(1) + text + m.group(2), doc)
    open(path, "w").write(doc)


replace_block(os.path.join(root, "docs", "CLI.md"), "generated: hive-host --help", out("--help"))
replace_block(os.path.join(root, "docs", "CONFIG.md"), "generated: hive-host --print-config", out("--print-config"))
print("docs/CLI.md and docs/CONFIG.md updated from", host)
