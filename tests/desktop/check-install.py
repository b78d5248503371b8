#!/usr/bin/env python3
"""Runs `meson install` of the build tree into a temporary DESTDIR and checks
that every file GNOME needs lands where GNOME looks for it."""

import os
import shutil
import subprocess
import sys
import tempfile

APP_ID = 'io.github.tagsight.Tagsight'


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
        print('all %d files installed' % len(expected(dest)))
        return 0
    finally:
        shutil.rmtree(dest, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
