// Command castware-release builds and pushes the project's release without a container engine (the
// Makefile's image, bundle-image, release and push targets run it):
//
//	castware-release image        [flags]   the operator image (linux/amd64 + linux/arm64) as an OCI layout in OUT/image
//	castware-release bundle-image [flags]   the OLM bundle image as an OCI layout in OUT/bundle-image
//	castware-release release      [flags]   both images, the chart archives (OUT/charts) and OUT/manifest.json
//	castware-release push -registry HOST[:PORT][/PATH] [-out OUT] [-plain-http]   push a release built by `release`
//
// Builds are reproducible: file and image times are $SOURCE_DATE_EPOCH or the commit time.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/castware-operator/castware-operator/internal/devtools/release"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: castware-release image|bundle-image|release|push [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "castware-release:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	var o release.Options
	fs.StringVar(&o.Root, "root", ".", "repository root")
	fs.StringVar(&o.Out, "out", "bin/release", "release folder")
	fs.StringVar(&o.Version, "version", "", "image tag and version label (default: the operator chart's appVersion)")
	fs.StringVar(&o.Commit, "commit", "", "revision label (default: git rev-parse HEAD)")
	fs.StringVar(&o.Registry, "registry", "", "registry the release is pushed to, host[:port][/path] (default "+release.DefaultRegistry+")")
	arches := fs.String("arches", strings.Join(release.Arches, ","), "architectures of the operator image")
	plainHTTP := fs.Bool("plain-http", false, "push over plain HTTP (loopback registries always are)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Arches = strings.Split(*arches, ",")
	o.Log = os.Stdout
	if cmd == "push" {
		_, err := release.Push(ctx, release.PushOptions{Dir: o.Out, Registry: o.Registry, PlainHTTP: *plainHTTP, Log: os.Stdout})
		return err
	}
	o, err := release.Resolve(ctx, o)
	if err != nil {
		return err
	}
	switch cmd {
	case "image":
		_, _, err = release.BuildImage(ctx, o)
	case "bundle-image":
		_, err = release.BuildBundleImage(o)
	case "release":
		_, err = release.Build(ctx, o)
	default:
		err = fmt.Errorf("unknown command %q (image, bundle-image, release or push)", cmd)
	}
	return err
}
