// Command shipgen generates what the project ships from config/ (run by `make generate` and
// `make bundle`; tests in test/packaging fail when its output is stale):
//
//	shipgen markers  the +kubebuilder:rbac markers naming the catalog's foreign objects (watches.yaml), before controller-gen
//	shipgen chart    the operator chart's RBAC and webhook-configuration templates and CRDs, and internal/permissions' rule sets
//	shipgen bundle   the OLM bundle (bundle/, with the scorecard configuration from config/scorecard, and bundle.Dockerfile)
//	shipgen validate [-dir bundle]   run the bundle validators (exit 1 on any error or warning)
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/castware-operator/castware-operator/internal/devtools/packaging"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: shipgen markers|chart|bundle|validate [-root DIR] [-dir DIR]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	root := fs.String("root", ".", "repository root")
	dir := fs.String("dir", packaging.BundleDir, "bundle directory (validate)")
	_ = fs.Parse(os.Args[2:])
	if os.Args[1] == "validate" {
		os.Exit(validate(*dir))
	}
	var files map[string][]byte
	var owned []string
	var err error
	switch os.Args[1] {
	case "markers":
		files, err = packaging.MarkerFilesOf(*root)
	case "chart":
		files, err = packaging.ChartFiles(*root)
		owned = []string{packaging.OperatorChartDir + "/crds"}
	case "bundle":
		files, err = packaging.BundleFiles(*root)
		owned = []string{packaging.BundleDir + "/manifests", packaging.BundleDir + "/" + packaging.ScorecardBundleDir}
	default:
		err = fmt.Errorf("unknown command %q (markers, chart, bundle or validate)", os.Args[1])
	}
	if err == nil {
		err = packaging.WriteFiles(*root, files, owned...)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shipgen:", err)
		os.Exit(1)
	}
	fmt.Printf("shipgen %s: %d files written\n", os.Args[1], len(files))
}

func validate(dir string) int {
	errs, warns, err := packaging.ValidateBundle(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shipgen validate:", err)
		return 1
	}
	for _, e := range errs {
		fmt.Println("ERROR:", e)
	}
	for _, w := range warns {
		fmt.Println("WARNING:", w)
	}
	if len(errs)+len(warns) > 0 {
		return 1
	}
	fmt.Printf("bundle %s: valid, no warnings\n", dir)
	return 0
}
