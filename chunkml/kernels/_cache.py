"""Salt numba's on-disk cache of the kernels with every kernel source and numba's version.

Why: numba's ``cache=True`` keys a cached function on its own source file and bytecode
only. The kernels compile in helpers from other files of this folder (``_tile.py``,
``_topk.py``, ...) and freeze the constants of ``_config.py`` into their machine code, so
after an edit of such a file, or an in-place upgrade of chunkml (pip leaves the
``.nbi``/``.nbc`` files behind), numba would load the old machine code without a word.

How: a cache locator, tried before numba's own, for the functions defined in this folder.
numba's own locators still choose the directory (``NUMBA_CACHE_DIR``, else the in-tree
``__pycache__``, else the user-wide cache directory when the installation is read-only);
this one adds the salt, 16 hex digits of a sha256 of the names and contents of every
``.py`` file under this folder and of the numba and llvmlite versions, to the index stamp
and to the names of the cache files. So:

- any edit of any kernel file, or another numba/llvmlite, gives new file names: the old
  machine code is never loaded, not even by a process that races an older version of the
  package over the same cache directory (a worker still running the old install);
- the salt is computed once per process, at import, from file contents, never mtimes:
  every process importing the same sources (workers starting together, copies, wheels)
  computes the same salt and loads the others' files. numba still writes each file to a
  temporary name and ``os.replace``-s it, so concurrent workers never read half a file;
- the first process that compiles (saves) a kernel after a change deletes the index and
  data files of other salts, and numba's unsalted ones, from that directory (which holds
  only this folder's kernels): stale entries do not pile up;
- processes that save different signatures of one kernel at once (workers starting
  together on a cold cache, ``warm_up(n_jobs=...)``) keep every one: numba's save reads
  the index, picks the first free data file name and writes both back, so two savers
  could each pick ``.1.nbc`` and the index keep only the last writer's entry (or point
  at the other's machine code). Here each save of a salted file holds an exclusive lock
  on one file per cache directory and salt (``fcntl.flock``; where there is no fcntl,
  saves are not serialised) and reads the index inside it. Loads take no lock: numba
  writes every file to a temporary name and renames it.

numba's caching classes are private (``numba/core/caching.py``), so they are used here
only; ``tests/kernels/test_cache.py`` checks that the locator is in use. If numba changes
them so that the locator cannot be installed, ``SALTED`` is False and ``_config.CACHE``
turns caching off (slower first calls, never stale code), with a warning.
"""

import contextlib
import functools
import hashlib
import os
import re
import warnings

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

import llvmlite
import numba

try:
    from numba.core import caching as _caching
except ImportError:  # pragma: no cover - numba without numba.core.caching
    _caching = None

_KERNELS_DIR = os.path.normcase(os.path.dirname(os.path.realpath(__file__)))

# numba's cache file names: "<module>.<qualname>-<disambiguator>.py<ver><abiflags>.nbi"
# for the index, "...<abiflags>.<n>.nbc" for the data; the disambiguator is the first
# line number, to which the salt is appended. Temporary files (".tmp.<uid>") never match.
_CACHE_FILE = re.compile(r"-\d+(?:-([0-9a-f]{16}))?\.py\d+[a-z]*\.(?:nbi|\d+\.nbc)\Z")
# The lock file of one salt's saves in a cache directory (see `_locked_save`).
_LOCK_FILE = re.compile(r"\A\.chunkml-([0-9a-f]{16})\.lock\Z")


def source_salt(directory=_KERNELS_DIR, versions=None):
    """16 hex digits of sha256 over the relative names and contents of every ``.py`` file
    under `directory` and the `versions` (default: numba's and llvmlite's)."""
    if versions is None:
        versions = (numba.__version__, llvmlite.__version__)
    digest = hashlib.sha256(repr(tuple(versions)).encode())
    found = False
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                found = True
                with open(path, "rb") as f:
                    data = f.read()
                relative = os.path.relpath(path, directory).replace(os.sep, "/").encode()
                digest.update(b"%d:%s%d:" % (len(relative), relative, len(data)) + data)
    if not found:
        raise FileNotFoundError(f"no .py file under {directory}")
    return digest.hexdigest()[:16]


def _prune(cache_path, salt):
    """Delete the index and data files of salts other than `salt` in `cache_path`."""
    try:
        names = os.listdir(cache_path)
    except OSError:
        return
    for name in names:
        match = _CACHE_FILE.search(name) or _LOCK_FILE.match(name)
        if match is not None and match.group(1) != salt:
            try:
                os.unlink(os.path.join(cache_path, name))
            except OSError:
                pass  # removed by another process, or open on Windows


_Locator = getattr(_caching, "_CacheLocator", object)
# Called CacheImpl since numba 0.61, _CacheImpl before.
_CACHE_IMPL = getattr(_caching, "CacheImpl", None) or getattr(_caching, "_CacheImpl", None)


class _SaltedLocator(_Locator):
    """numba's usual locator for a function of this folder, with the salt added."""

    _pruned = set()

    def __init__(self, base):
        self._base = base
        # numba's warning for a function it cannot cache ("uses dynamic globals") names
        # the locator's file: without it, that warning raised AttributeError instead.
        self._py_file = getattr(base, "_py_file", None)

    @classmethod
    def from_function(cls, py_func, py_file):
        path = os.path.normcase(os.path.realpath(py_file))
        if not path.startswith(_KERNELS_DIR + os.sep):
            return None
        classes = _CACHE_IMPL._locator_classes
        later = classes[classes.index(cls) + 1:] if cls in classes else classes
        for base_class in later:
            base = base_class.from_function(py_func, py_file)
            if base is not None:
                return cls(base)
        return None

    def ensure_cache_path(self):
        # numba calls this before each save, i.e. only after a compile.
        self._base.ensure_cache_path()
        path = self.get_cache_path()
        if path not in self._pruned:
            self._pruned.add(path)
            _prune(path, SALT)

    def get_cache_path(self):
        return self._base.get_cache_path()

    def get_source_stamp(self):
        return ("chunkml", SALT)

    def get_disambiguator(self):
        return f"{self._base.get_disambiguator()}-{SALT}"


def lock_path(cache_path, salt):
    """The file whose exclusive lock serialises the saves of `salt`'s files in
    `cache_path`."""
    return os.path.join(cache_path, f".chunkml-{salt}.lock")


@contextlib.contextmanager
def save_lock(cache_path, salt):
    """Hold the exclusive lock of `salt`'s saves in `cache_path` (nothing where the
    lock file cannot be opened, or without fcntl)."""
    try:
        fd = os.open(lock_path(cache_path, salt), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        fd = None
    try:
        if fd is not None and fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


_INDEX_FILE = getattr(_caching, "IndexDataCacheFile", None)


def _locked_save(save):
    """numba's IndexDataCacheFile.save, under `save_lock` for the files of this salt
    (their names hold it); other numba caches in the process are left as they are."""

    @functools.wraps(save)
    def locked(self, key, data):
        name = getattr(self, "_index_name", "")
        cache_path = getattr(self, "_cache_path", None)
        if SALT is None or cache_path is None or f"-{SALT}." not in name:
            return save(self, key, data)
        with save_lock(cache_path, SALT):
            return save(self, key, data)

    locked.chunkml_locked = True
    return locked


def _install():
    classes = getattr(_CACHE_IMPL, "_locator_classes", None)
    abstract = getattr(_Locator, "__abstractmethods__", None)
    if not isinstance(classes, list) or not abstract:
        return False
    if not abstract <= set(vars(_SaltedLocator)):
        return False
    save = getattr(_INDEX_FILE, "save", None)
    if save is None:
        return False
    if not getattr(save, "chunkml_locked", False):
        _INDEX_FILE.save = _locked_save(save)
    if _SaltedLocator not in classes:
        classes.insert(0, _SaltedLocator)
    return True


try:
    SALT = source_salt()
except OSError:  # sources not readable as files (a zip import)
    SALT = None
SALTED = SALT is not None and _install()
if not SALTED:
    warnings.warn(
        f"chunkml cannot key numba's cache of its kernels on their sources (numba "
        f"{numba.__version__}); the kernels are compiled anew in every process",
        RuntimeWarning, stacklevel=2)
