# SPDX-License-Identifier: MIT
"""Imports ~30 standard-library packages, as a service does at start: some
1,300 code objects run, and every module body is freed as soon as its import
is done (many within a millisecond of their first allocation).

Prints "import_stdlib pid=P leaked=N" (N: packages imported) at the end.
"""
import importlib
import os
import sys

NAMES = """json email.utils email.message http.server http.client asyncio decimal
xml.dom.minidom logging.handlers unittest argparse urllib.request tarfile zipfile
csv pydoc difflib ftplib smtplib imaplib xmlrpc.client configparser
concurrent.futures multiprocessing dataclasses typing inspect ast tokenize
pickletools""".split()

n = 0
for name in NAMES:
    try:
        importlib.import_module(name)
        n += 1
    except ImportError:
        pass
sys.stdout.write("import_stdlib pid=%d leaked=%d\n" % (os.getpid(), n))
