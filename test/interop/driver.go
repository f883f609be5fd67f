// A minimal runtime built on libcni (the library containerd and cri-o use), so tests drive our plugins exactly
// as a real runtime would: conflist parsing, prevResult chaining, capability args, result caching.
//
// usage: driver add|check|del|validate <conflist> <netns> <containerID> <ifname>
// Environment: CNI_PATH (plugin dirs), CNI_CACHE_DIR (libcni result cache), CAP_ARGS (JSON capability args),
// CNI_ARGS (K=V;...).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, err.Error())
	os.Exit(1)
}

func main() {
	if len(os.Args) != 6 {
		fail(fmt.Errorf("usage: driver add|check|del|validate <conflist> <netns> <containerID> <ifname>"))
	}
	cmd, confPath, netns, id, ifname := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	list, err := libcni.ConfListFromFile(confPath)
	if err != nil {
		fail(err)
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), os.Getenv("CNI_CACHE_DIR"), nil)
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: ifname}
	if capArgs := os.Getenv("CAP_ARGS"); capArgs != "" {
		if err := json.Unmarshal([]byte(capArgs), &rt.CapabilityArgs); err != nil {
			fail(err)
		}
	}
	if args := os.Getenv("CNI_ARGS"); args != "" {
		for _, pair := range strings.Split(args, ";") {
			kv := strings.SplitN(pair, "=", 2)
			if len(kv) == 2 {
				rt.Args = append(rt.Args, [2]string{kv[0], kv[1]})
			}
		}
	}
	ctx := context.Background()
	switch cmd {
	case "add":
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail(err)
		}
		if err := res.Print(); err != nil {
			fail(err)
		}
	case "check":
		if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "del":
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "validate":
		caps, err := cni.ValidateNetworkList(ctx, list)
		if err != nil {
			fail(err)
		}
		fmt.Println(strings.Join(caps, ","))
	default:
		fail(fmt.Errorf("unknown command %q", cmd))
	}
}
