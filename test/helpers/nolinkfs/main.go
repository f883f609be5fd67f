// nolinkfs: a pass-through FUSE filesystem whose link() fails with EPERM, as on vfat, for testing stores on a
// filesystem without hard links.
//
//	nolinkfs <backing dir> <mount point> <command> [args...]
//
// mounts <backing dir> at <mount point>, runs the command with this process's stdin, stdout, stderr and
// environment, unmounts, and exits with the command's status. Run it in a private mount namespace
// (unshare --mount --propagation private) so that nothing else ever sees the mount.
package main

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/hanwen/go-fuse/v2/fuse/nodefs"
	"github.com/hanwen/go-fuse/v2/fuse/pathfs"
)

type noLinks struct{ pathfs.FileSystem }

func (noLinks) Link(string, string, *fuse.Context) fuse.Status { return fuse.EPERM }

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: nolinkfs <backing dir> <mount point> <command> [args...]")
		os.Exit(2)
	}
	fs := pathfs.NewPathNodeFs(noLinks{pathfs.NewLoopbackFileSystem(os.Args[1])}, nil)
	conn := nodefs.NewFileSystemConnector(fs.Root(), nodefs.NewOptions())
	// DirectMount: mount(2) ourselves (we are root), no fusermount helper.
	server, err := fuse.NewServer(conn.RawFS(), os.Args[2], &fuse.MountOptions{DirectMount: true, FsName: "nolinkfs", Name: "nolinkfs"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nolinkfs: mount:", err)
		os.Exit(2)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		fmt.Fprintln(os.Stderr, "nolinkfs: mount:", err)
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[3], os.Args[4:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	runErr := cmd.Run()
	if err := server.Unmount(); err != nil {
		fmt.Fprintln(os.Stderr, "nolinkfs: unmount:", err)
	}
	if exit, ok := runErr.(*exec.ExitError); ok {
		os.Exit(exit.ExitCode())
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "nolinkfs:", runErr)
		os.Exit(2)
	}
}
