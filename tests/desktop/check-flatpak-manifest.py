#!/usr/bin/env python3
"""Checks the Flatpak manifest's structure: app id, runtime, command, minimal
sandbox holes, the dependency modules before the app, every download pinned
by sha256 (or a git commit) and the app built from the local tree."""

import json
import os
import re
import sys

APP_ID = 'io.github.tagsight.Tagsight'
# Runtimes older than this are end-of-life on Flathub.
MIN_GNOME_RUNTIME = 47
REQUIRED_FINISH_ARGS = ['--share=ipc', '--socket=wayland', '--socket=fallback-x11', '--device=dri']
# Files come through the file chooser portal; nothing broader is allowed.
FORBIDDEN_PREFIXES = ['--filesystem', '--socket=x11', '--device=all', '--share=network',
                      '--talk-name=org.freedesktop.Flatpak', '--socket=session-bus',
                      '--socket=system-bus']
# What the GNOME runtime lacks, in build order; the app comes last.
EXPECTED_MODULES = ['openblas', 'libjpeg-turbo', 'tagsight']
SHA256 = re.compile(r'^[0-9a-f]{64}$')
COMMIT = re.compile(r'^[0-9a-f]{40}$')

errors = []


def fail(msg):
    errors.append(msg)


def check_source(module, src, manifest_dir):
    kind = src.get('type')
    where = 'module "%s", source %s' % (module, json.dumps(src, sort_keys=True))
    if kind in ('archive', 'file'):
        if 'url' in src:
            if not src['url'].startswith('https://'):
                fail('%s: the URL is not https' % where)
            if not SHA256.match(src.get('sha256', '')):
                fail('%s: no sha256 pin' % where)
        elif 'path' in src:
            if not os.path.exists(os.path.join(manifest_dir, src['path'])):
                fail('%s: the local path does not exist' % where)
        else:
            fail('%s: neither url nor path' % where)
    elif kind == 'git':
        if not COMMIT.match(src.get('commit', '')):
            fail('%s: a git source must be pinned by commit' % where)
    elif kind in ('dir', 'patch'):
        if not os.path.exists(os.path.join(manifest_dir, src.get('path', ''))):
            fail('%s: the local path does not exist' % where)
    else:
        fail('%s: unsupported source type %r' % (where, kind))


def main(path):
    manifest_dir = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, encoding='utf-8') as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        print('%s: %s' % (path, e))
        return 1

    app_id = m.get('id', m.get('app-id'))
    if app_id != APP_ID:
        fail('id is %r, expected %r' % (app_id, APP_ID))
    if os.path.basename(path) != APP_ID + '.json':
        fail('the manifest file must be named %s.json' % APP_ID)
    if m.get('runtime') != 'org.gnome.Platform' or m.get('sdk') != 'org.gnome.Sdk':
        fail('runtime/sdk must be org.gnome.Platform/org.gnome.Sdk')
    version = str(m.get('runtime-version', ''))
    if not version.isdigit() or int(version) < MIN_GNOME_RUNTIME:
        fail('runtime-version %r is not a current GNOME runtime (>= %d)'
             % (version, MIN_GNOME_RUNTIME))
    if m.get('command') != 'tagsight':
        fail('command is %r, expected "tagsight"' % m.get('command'))

    finish = m.get('finish-args', [])
    for arg in REQUIRED_FINISH_ARGS:
        if arg not in finish:
            fail('finish-args lack %s' % arg)
    for arg in finish:
        if arg not in REQUIRED_FINISH_ARGS:
            fail('finish-args: %s is not needed (keep the sandbox minimal)' % arg)
        for bad in FORBIDDEN_PREFIXES:
            if arg == bad or arg.startswith(bad + '='):
                fail('finish-args: %s is too broad; use portals' % arg)

    modules = m.get('modules', [])
    names = [mod.get('name') if isinstance(mod, dict) else mod for mod in modules]
    if names != EXPECTED_MODULES:
        fail('modules are %r, expected %r in that order' % (names, EXPECTED_MODULES))
    for mod in modules:
        if not isinstance(mod, dict):
            fail('module %r is an external file; keep every module inline' % mod)
            continue
        if not mod.get('sources'):
            fail('module "%s" has no sources' % mod.get('name'))
        for src in mod.get('sources', []):
            check_source(mod.get('name'), src, manifest_dir)

    app = modules[-1] if modules and isinstance(modules[-1], dict) else {}
    if app.get('buildsystem') != 'meson':
        fail('the tagsight module must use buildsystem meson')
    if '-Dcuda=disabled' not in app.get('config-opts', []):
        fail('the tagsight module must pass -Dcuda=disabled (the CPU backend)')
    dirs = [s for s in app.get('sources', []) if s.get('type') == 'dir']
    if len(dirs) != 1 or not os.path.isfile(os.path.join(manifest_dir, dirs[0].get('path', ''),
                                                         'meson.build')):
        fail('the tagsight module must build from the local tree (type dir, path "..")')

    for e in errors:
        print('%s: %s' % (path, e))
    print('%s: %d modules, %d problems' % (path, len(modules), len(errors)))
    return 1 if errors else 0


if __name__ == '__main__':
    if len(sys.argv) != 2:
        print('usage: check-flatpak-manifest.py MANIFEST.json', file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
