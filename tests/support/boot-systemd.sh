#!/bin/bash
# Boots a real systemd as PID 1 for test_systemd.py. Run as the first
# process of fresh pid, mount, uts, ipc, net and cgroup namespaces (unshare
# --pid --fork --mount ...) on a terminal of its own (script(1)), from a
# cgroup2 directory of its own. The new root is an overlay of the host's /,
# so nothing the inner system writes reaches the host; TREE's files are
# copied over it (what `make install DESTDIR=TREE` put there, plus the
# test's units). Kept off host state: /sys and /proc/sys read-only, its own
# /dev, no CAP_SYS_MODULE or CAP_SYS_TIME. systemd boots into TARGET only,
# never the default target, which would start every service installed on
# the host.
#
# Usage: boot-systemd.sh SCRATCH TREE TARGET
# SCRATCH is an empty directory for the overlay's own layers.
set -eu
scratch=$1 tree=$2 target=$3
root=$scratch/root

mount -t tmpfs tmpfs "$scratch"
mkdir "$scratch/upper" "$scratch/work" "$root"
mount -t overlay overlay \
    -o lowerdir=/,upperdir="$scratch/upper",workdir="$scratch/work" "$root"
mount -t proc proc "$root/proc"
mount --bind "$root/proc/sys" "$root/proc/sys"
mount -o remount,bind,ro "$root/proc/sys"
# Read-only: udev's triggers and the like see nothing to do.
mount -t sysfs -o ro sysfs "$root/sys"
# Its root is our cgroup namespace's, the directory we were started in.
mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup"
mount -t tmpfs -o mode=755 tmpfs "$root/dev"
for d in null zero full random urandom tty; do
	touch "$root/dev/$d"
	mount --bind "/dev/$d" "$root/dev/$d"
done
# script(1)'s terminal is the console, so the host's is never written.
touch "$root/dev/console"
mount --bind "$(tty)" "$root/dev/console"
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
mount -t tmpfs tmpfs "$root/tmp"

# Through the host's directory links (/lib -> usr/lib on a merged /usr).
tar -C "$tree" -cf - . | tar -C "$root" -xf - --keep-directory-symlink

mkdir "$root/oldroot"
cd "$root"
pivot_root . oldroot
umount -l /oldroot
rmdir /oldroot
exec setpriv --bounding-set -sys_module,-sys_time \
    env -i container=coserve-test /lib/systemd/systemd \
    --unit="$target" --log-target=journal \
    </dev/console >/dev/console 2>&1
