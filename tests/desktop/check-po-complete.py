#!/usr/bin/env python3
"""Every language in po/LINGUAS must be a complete translation: every msgid of
the sources translated, nothing fuzzy, every plural form filled, and the
language's correct Plural-Forms header.  When xgettext is installed the
message list is extracted afresh from po/POTFILES.in, so a string added to the
code without a translation fails here."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

PLURAL_FORMS = {
    'de': 'nplurals=2; plural=(n != 1);',
    'fr': 'nplurals=2; plural=(n > 1);',
}
# The keywords of meson's i18n.gettext (preset: 'glib'), the data layer's
# TS_ and TS_NG, and the error reporters whose format is a msgid
# (po/meson.build).
XGETTEXT_KEYWORDS = ['_', 'N_', 'C_:1c,2', 'NC_:1c,2', 'g_dcgettext:2', 'g_dngettext:2,3',
                     'g_dpgettext2:2c,3', 'ngettext:1,2', 'TS_', 'TS_NG:1,2',
                     'ts_error:2', 'ts_verror:2', 'ts_error_prefix:2']


def unquote(s):
    s = s.strip()
    assert s.startswith('"') and s.endswith('"'), s
    return s[1:-1].encode('latin-1', 'backslashreplace').decode('unicode_escape') \
        if '\\' in s else s[1:-1]


def parse(path):
    """Returns a list of entries: dicts with ctxt, id, plural, strs, fuzzy, line."""
    entries, cur, field = [], None, None

    def flush():
        if cur is not None and 'id' in cur:
            entries.append(cur)

    with open(path, encoding='utf-8') as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip('\n')
            if line.startswith('#~'):
                continue
            if not line.strip():
                flush()
                cur, field = None, None
                continue
            if cur is None:
                cur = {'ctxt': None, 'plural': None, 'strs': {}, 'fuzzy': False, 'line': lineno}
            if line.startswith('#,'):
                cur['fuzzy'] = cur['fuzzy'] or 'fuzzy' in line
                continue
            if line.startswith('#'):
                continue
            m = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$', line)
            if m:
                key, idx, val = m.group(1), m.group(2), unquote(m.group(3))
                if key == 'msgctxt':
                    field = ('ctxt', None)
                    if 'id' in cur:
                        flush()
                        cur = {'ctxt': None, 'plural': None, 'strs': {}, 'fuzzy': False,
                               'line': lineno}
                elif key == 'msgid':
                    field = ('id', None)
                elif key == 'msgid_plural':
                    field = ('plural', None)
                else:
                    field = ('strs', int(idx) if idx is not None else 0)
                if field[0] == 'strs':
                    cur['strs'][field[1]] = val
                else:
                    cur[field[0]] = val
            elif line.startswith('"') and field is not None:
                val = unquote(line)
                if field[0] == 'strs':
                    cur['strs'][field[1]] += val
                else:
                    cur[field[0]] = (cur.get(field[0]) or '') + val
            else:
                raise ValueError('%s:%d: cannot parse: %s' % (path, lineno, line))
    flush()
    return entries


def fresh_ids(po_dir):
    xgettext = shutil.which('xgettext')
    if xgettext is None:
        return None
    root = os.path.dirname(os.path.abspath(po_dir))
    with tempfile.TemporaryDirectory() as tmp:
        pot = os.path.join(tmp, 'tagsight.pot')
        args = [xgettext, '--package-name=tagsight', '-p', tmp, '-o', 'tagsight.pot',
                '-D', root, '-f', os.path.join(po_dir, 'POTFILES.in'), '--from-code=UTF-8',
                '--add-comments']
        args += ['--keyword=' + k for k in XGETTEXT_KEYWORDS]
        subprocess.run(args, check=True)
        return {(e['ctxt'], e['id']) for e in parse(pot) if e['id']}


def main(po_dir):
    with open(os.path.join(po_dir, 'LINGUAS'), encoding='utf-8') as f:
        langs = [w for l in f if not l.startswith('#') for w in l.split()]
    want = fresh_ids(po_dir)
    problems = []
    for lang in langs:
        path = os.path.join(po_dir, lang + '.po')
        if not os.path.isfile(path):
            problems.append('%s: listed in LINGUAS but missing' % path)
            continue
        entries = parse(path)
        header = next((e for e in entries if e['id'] == '' and e['ctxt'] is None), None)
        header_text = header['strs'].get(0, '') if header else ''
        pf = re.search(r'^Plural-Forms:\s*(.*?)\s*$', header_text, re.M)
        expect = PLURAL_FORMS.get(lang)
        if pf is None:
            problems.append('%s: no Plural-Forms header' % path)
        elif expect is not None and pf.group(1).replace(' ', '') != expect.replace(' ', ''):
            problems.append('%s: Plural-Forms is "%s", expected "%s"' % (path, pf.group(1), expect))
        if not re.search(r'^Language:\s*%s\s*$' % re.escape(lang), header_text, re.M):
            problems.append('%s: the Language header is not %s' % (path, lang))
        nplurals = int(re.search(r'nplurals=(\d+)', pf.group(1)).group(1)) if pf else 2
        have = set()
        n = 0
        for e in entries:
            if e['id'] == '' and e['ctxt'] is None:
                continue
            n += 1
            have.add((e['ctxt'], e['id']))
            where = '%s:%d: "%s"' % (path, e['line'], e['id'])
            if e['fuzzy']:
                problems.append('%s is fuzzy' % where)
            if e['plural'] is not None:
                for i in range(nplurals):
                    if not e['strs'].get(i):
                        problems.append('%s: plural form %d is not translated' % (where, i))
            elif not e['strs'].get(0):
                problems.append('%s is not translated' % where)
        if want is not None:
            for ctxt, mid in sorted(want - have, key=lambda t: (t[0] or '', t[1])):
                problems.append('%s: "%s" from the sources is missing' % (path, mid))
            for ctxt, mid in sorted(have - want, key=lambda t: (t[0] or '', t[1])):
                problems.append('%s: "%s" is no longer in the sources (run ninja tagsight-update-po)'
                                % (path, mid))
        print('%s: %d messages' % (path, n))
    for p in problems:
        print(p)
    if want is None:
        print('note: xgettext not installed; checked the .po files only')
    print('%d languages, %d problems' % (len(langs), len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    if len(sys.argv) != 2:
        print('usage: check-po-complete.py PO_DIR', file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
