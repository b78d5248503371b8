#!/usr/bin/env python3
"""Every screenshot the metainfo points at under the project's raw GitHub URL
must exist in the source tree (docs/screenshots/), so a renamed or deleted
PNG does not leave Flathub and GNOME Software with a broken image."""

import os
import sys
import xml.etree.ElementTree as ET

RAW = 'https://raw.githubusercontent.com/tagsight/tagsight/main/'


def main(root, metainfo):
    images = [el.text.strip() for el in ET.parse(metainfo).getroot().iter('image') if el.text]
    problems = []
    if not images:
        problems.append('no screenshots')
    for url in images:
        if not url.startswith(RAW):
            problems.append('%s is not under %s' % (url, RAW))
            continue
        rel = url[len(RAW):]
        if not rel.startswith('docs/screenshots/') or not rel.endswith('.png'):
            problems.append('%s is not a PNG in docs/screenshots/' % url)
        elif not os.path.isfile(os.path.join(root, rel)):
            problems.append('%s: %s does not exist' % (url, rel))
    for p in problems:
        print('%s: %s' % (metainfo, p))
    print('%d screenshots, %d problems' % (len(images), len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    if len(sys.argv) != 3:
        print('usage: check-metainfo-screenshots.py SOURCE_ROOT METAINFO', file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
