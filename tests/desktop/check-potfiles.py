#!/usr/bin/env python3
"""po/POTFILES.in must be sorted, list only files that exist, and list every
source file with strings marked for translation (C, .ui and data files; in C
also the error messages of ts_error and its kin, which translate their
format), so no string silently escapes the translators."""

import os
import re
import sys

C_MARK = re.compile(r'(?<![A-Za-z0-9_])(?:_|N_|C_|NC_|g_dngettext|ngettext|g_dpgettext2|'
                    r'g_dcgettext|dgettext|TS_|TS_NG|ts_error|ts_verror|ts_error_prefix)\s*\(')


def wanted(root):
    found = set()
    for top in ('src', 'ui', 'data'):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for name in filenames:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root)
                if name.endswith('.c'):
                    with open(full, encoding='utf-8', errors='replace') as f:
                        if C_MARK.search(f.read()):
                            found.add(rel)
                elif name.endswith('.ui'):
                    with open(full, encoding='utf-8', errors='replace') as f:
                        if 'translatable="yes"' in f.read():
                            found.add(rel)
                elif name.endswith(('.desktop.in', '.metainfo.xml.in', '.gschema.xml')):
                    found.add(rel)
    return found


def main(root, potfiles):
    problems = []
    with open(potfiles, encoding='utf-8') as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith('#')]
    if lines != sorted(lines):
        for a, b in zip(lines, sorted(lines)):
            if a != b:
                problems.append('not sorted: %s comes before %s' % (a, b))
                break
    if len(set(lines)) != len(lines):
        problems.append('duplicate entries')
    for l in lines:
        if not os.path.isfile(os.path.join(root, l)):
            problems.append('%s is listed but does not exist' % l)
    for w in sorted(wanted(root) - set(lines)):
        problems.append('%s has translatable strings but is not listed' % w)
    for p in problems:
        print('%s: %s' % (potfiles, p))
    print('%d files listed, %d problems' % (len(lines), len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    if len(sys.argv) != 3:
        print('usage: check-potfiles.py SOURCE_ROOT POTFILES.in', file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
