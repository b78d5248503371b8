#!/usr/bin/env python3
"""Every user-visible string in a GtkBuilder file must be translatable="yes",
or marked translatable="no" (or carry a comments= note saying why it is not
translated)."""

import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

# Properties and menu attributes that hold text a user reads.
TEXT_NAMES = {
    'label', 'title', 'subtitle', 'tooltip-text', 'tooltip-markup', 'text',
    'placeholder-text', 'description', 'heading', 'body', 'secondary-text',
    'message', 'button-label', 'accept-label', 'cancel-label', 'primary-text',
    'title-label', 'summary', 'caption', 'help-text', 'comments',
    'copyright', 'website-label', 'program-name', 'translator-credits',
}
# Properties that never hold text for people, even if they look like words.
NON_TEXT_NAMES = {
    'name', 'icon-name', 'action-name', 'action-target', 'css-classes',
    'css-name', 'accelerator', 'resource', 'file', 'visible-child-name',
    'page-name', 'mnemonic-widget', 'menu-model', 'application-id', 'id',
    'start-icon-name', 'end-icon-name', 'gicon', 'version', 'website',
    'issue-url', 'support-url', 'application-icon', 'license-type',
    'developer-name', 'application-name', 'target',
}
TEXT_ELEMENTS = {'property', 'attribute', 'item', 'col', 'mime-type', 'pattern'}

LETTERS = re.compile(r'[^\W\d_]', re.UNICODE)


def looks_translatable(el):
    text = (el.text or '').strip()
    if not LETTERS.search(text):
        return False
    name = el.get('name', '')
    if el.tag == 'property' or el.tag == 'attribute':
        if name in NON_TEXT_NAMES:
            return False
        if name in TEXT_NAMES:
            return True
        # A sentence-like value (two words, a capital) is text whatever the
        # property is called.
        return ' ' in text and text[0].isupper() and not text.startswith('<')
    # <item> in GtkStringList / GtkComboBoxText, <col> in list stores.
    return el.tag in ('item', 'col')


def check(path):
    problems = []
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        return ['%s: not well-formed XML: %s' % (path, e)]
    for el in root.iter():
        if el.tag not in TEXT_ELEMENTS or not looks_translatable(el):
            continue
        mark = el.get('translatable')
        if mark in ('yes', 'true', '1', 'no', 'false', '0'):
            continue
        if el.get('comments'):
            continue
        name = ' name="%s"' % el.get('name') if el.get('name') else ''
        problems.append('%s: <%s%s>%s</%s> is neither translatable="yes" nor translatable="no"'
                        % (path, el.tag, name, (el.text or '').strip(), el.tag))
    return problems


def main(argv):
    if len(argv) < 2:
        print('usage: check-ui-translatable.py FILE.ui|DIR...', file=sys.stderr)
        return 2
    # A folder stands for every .ui file under it, so new files are checked
    # without reconfiguring.
    paths = []
    for arg in argv[1:]:
        if os.path.isdir(arg):
            paths += sorted(glob.glob(os.path.join(arg, '**', '*.ui'), recursive=True))
        else:
            paths.append(arg)
    if not paths:
        print('no .ui files found')
        return 1
    problems = []
    for path in paths:
        problems += check(path)
    for p in problems:
        print(p)
    print('%d .ui files, %d unmarked strings' % (len(paths), len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
