#!/usr/bin/env python3
"""Runs `meson install` of the build tree into a temporary DESTDIR and checks
that every file GNOME needs lands where GNOME looks for it."""

import configparser
import gettext
import os
import shutil
import subprocess
import sys
import tempfile

APP_ID = 'io.github.tagsight.Tagsight'


def cross_check(dest, under, bindir, datadir, localedir, languages):
    """The installed files must agree with each other: the desktop file names
    the installed icon and binary, the metainfo launches that desktop file,
    and the catalogs really translate the desktop file's comment."""
    problems = []
    share = under(dest, datadir)
    desktop = configparser.ConfigParser(interpolation=None, strict=False)
    desktop.optionxform = str
    desktop.read(os.path.join(share, 'applications', APP_ID + '.desktop'), encoding='utf-8')
    entry = desktop['Desktop Entry'] if desktop.has_section('Desktop Entry') else {}
    if entry.get('Icon') != APP_ID:
        problems.append('desktop file: Icon=%s, expected %s' % (entry.get('Icon'), APP_ID))
    exe = (entry.get('Exec') or '').split(' ')[0]
    if not os.path.isfile(os.path.join(under(dest, bindir), exe)):
        problems.append('desktop file: Exec=%s is not an installed binary' % entry.get('Exec'))
    with open(os.path.join(share, 'metainfo', APP_ID + '.metainfo.xml'), encoding='utf-8') as f:
        metainfo = f.read()
    if '<launchable type="desktop-id">%s.desktop</launchable>' % APP_ID not in metainfo:
        problems.append('metainfo: no launchable for %s.desktop' % APP_ID)
    comment = entry.get('Comment', '')
    for lang in languages:
        try:
            cat = gettext.translation('tagsight', under(dest, localedir), [lang])
        except OSError as e:
            problems.append('%s catalog: %s' % (lang, e))
            continue
        if not comment or cat.gettext(comment) == comment:
            problems.append('%s catalog does not translate "%s"' % (lang, comment))
        if entry.get('Comment[%s]' % lang) != cat.gettext(comment):
            problems.append('desktop file: Comment[%s] is not the %s translation' % (lang, lang))
    return problems


def main(argv):
    if len(argv) < 7:
        print('usage: check-install.py MESON BUILDDIR PREFIX BINDIR DATADIR LOCALEDIR LANG...',
              file=sys.stderr)
        return 2
    meson, builddir, prefix, bindir, datadir, localedir = argv[1:7]
    languages = argv[7:]

    def under(root, d):
        # bindir and friends are relative to the prefix unless given absolute.
        return os.path.join(root + prefix, d) if not os.path.isabs(d) else root + d

    expected = lambda root: [
        os.path.join(under(root, bindir), 'tagsight'),
        os.path.join(under(root, bindir), 'tagsight-cli'),
        os.path.join(under(root, datadir), 'applications', APP_ID + '.desktop'),
        os.path.join(under(root, datadir), 'metainfo', APP_ID + '.metainfo.xml'),
        os.path.join(under(root, datadir), 'icons', 'hicolor', 'scalable', 'apps',
                     APP_ID + '.svg'),
        os.path.join(under(root, datadir), 'icons', 'hicolor', 'symbolic', 'apps',
                     APP_ID + '-symbolic.svg'),
        os.path.join(under(root, datadir), 'glib-2.0', 'schemas', APP_ID + '.gschema.xml'),
    ] + [os.path.join(under(root, localedir), lang, 'LC_MESSAGES', 'tagsight.mo')
         for lang in languages]

    dest = tempfile.mkdtemp(prefix='tagsight-install-')
    try:
        env = dict(os.environ, DESTDIR=dest)
        # --no-rebuild: the test runs after the build; a nested ninja would
        # race the other tests.
        proc = subprocess.run([meson, 'install', '-C', builddir, '--no-rebuild', '--quiet',
                               '--destdir', dest],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
        if proc.returncode != 0:
            print(proc.stdout)
            print('meson install failed with status %d' % proc.returncode)
            return 1
        missing = [p for p in expected(dest) if not os.path.isfile(p)]
        for p in expected(dest):
            print('%s %s' % ('ok     ' if p not in missing else 'MISSING', os.path.relpath(p, dest)))
        # The post-install step must not have touched DESTDIR's caches: they
        # belong to the final system (gnome.post_install skips under DESTDIR).
        compiled = os.path.join(under(dest, datadir), 'glib-2.0', 'schemas', 'gschemas.compiled')
        if os.path.exists(compiled):
            print('unexpected %s: schemas compiled into DESTDIR' % os.path.relpath(compiled, dest))
            return 1
        if missing:
            print('%d of %d files missing' % (len(missing), len(expected(dest))))
            return 1
        problems = cross_check(dest, under, bindir, datadir, localedir, languages)
        for p in problems:
            print(p)
        if problems:
            return 1
        print('all %d files installed and consistent' % len(expected(dest)))
        return 0
    finally:
        shutil.rmtree(dest, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
