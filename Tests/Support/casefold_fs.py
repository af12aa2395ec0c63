#!/usr/bin/env python3
"""A case-insensitive, case-preserving passthrough FUSE filesystem (as NTFS and FAT behave), used
by the tests to check that restore and mirror refuse names that differ only in case on such a target.

Usage: casefold_fs.py BACKING_DIR MOUNTPOINT   (runs in the foreground until unmounted)
"""
import errno
import os
import sys

from fuse import FUSE, FuseOSError, Operations


class CaseFold(Operations):
    def __init__(self, root):
        self.root = os.path.realpath(root)

    def _real(self, path):
        # Each component matches an existing entry whatever its case; a new name keeps its own case.
        real = self.root
        for part in [p for p in path.split("/") if p]:
            candidate = os.path.join(real, part)
            if not os.path.lexists(candidate) and os.path.isdir(real):
                folded = part.casefold()
                for name in os.listdir(real):
                    if name.casefold() == folded:
                        candidate = os.path.join(real, name)
                        break
            real = candidate
        return real

    def getattr(self, path, fh=None):
        st = os.lstat(self._real(path))
        keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime", "st_mtime", "st_ctime",
                "st_atime_ns", "st_mtime_ns", "st_ctime_ns", "st_ino")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._real(path))

    def readlink(self, path):
        return os.readlink(self._real(path))

    def access(self, path, mode):
        if not os.access(self._real(path), mode):
            raise FuseOSError(errno.EACCES)

    def mkdir(self, path, mode):
        os.mkdir(self._real(path), mode)

    def rmdir(self, path):
        os.rmdir(self._real(path))

    def unlink(self, path):
        os.unlink(self._real(path))

    def symlink(self, name, target):
        os.symlink(target, self._real(name))

    def rename(self, old, new):
        os.rename(self._real(old), self._real(new))

    def chmod(self, path, mode):
        os.chmod(self._real(path), mode, follow_symlinks=False) if not os.path.islink(self._real(path)) else None

    def chown(self, path, uid, gid):
        os.lchown(self._real(path), uid, gid)

    def utimens(self, path, times=None):
        real = self._real(path)
        if times:
            os.utime(real, ns=(int(times[0] * 1e9), int(times[1] * 1e9)), follow_symlinks=False)
        else:
            os.utime(real, follow_symlinks=False)

    def truncate(self, path, length, fh=None):
        with open(self._real(path), "r+b") as f:
            f.truncate(length)

    def statfs(self, path):
        st = os.statvfs(self._real(path))
        return {k: getattr(st, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                                             "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}

    def create(self, path, mode, fi=None):
        return os.open(self._real(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

    def open(self, path, flags):
        return os.open(self._real(path), flags)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        return os.pwrite(fh, data, offset)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        os.fsync(fh)
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0


if __name__ == "__main__":
    FUSE(CaseFold(sys.argv[1]), sys.argv[2], foreground=True, nothreads=True, use_ino=True)
