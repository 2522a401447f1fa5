package selfupgrade

import (
	"errors"
	"flag"
	"testing"
)

func TestCheckTarget(t *testing.T) {
	for _, c := range []struct {
		name                                string
		runName, runVersion, toName, toVers string
		rollback                            bool
		want                                error
	}{
		{"newer version", "castware-operator", "0.1.0", "castware-operator", "0.2.0", false, nil},
		{"same version", "castware-operator", "0.2.0", "castware-operator", "0.2.0", false, nil},
		{"v prefix", "castware-operator", "0.1.0", "castware-operator", "v0.2.0", false, nil},
		{"patch upgrade", "castware-operator", "0.2.0", "castware-operator", "0.2.1", false, nil},
		{"downgrade refused", "castware-operator", "0.2.0", "castware-operator", "0.1.0", false, ErrDowngrade},
		{"downgrade to a pre-release refused", "castware-operator", "0.2.0", "castware-operator", "0.2.0-rc.1", false, ErrDowngrade},
		{"explicit rollback may downgrade", "castware-operator", "0.2.0", "castware-operator", "0.1.0", true, nil},
		{"another product's chart", "castware-operator", "0.1.0", "castai-agent", "0.2.0", false, ErrWrongChart},
		{"another chart even as a rollback", "castware-operator", "0.2.0", "evil", "0.1.0", true, ErrWrongChart},
		{"empty target name", "castware-operator", "0.1.0", "", "0.2.0", false, ErrWrongChart},
		{"target not semver", "castware-operator", "0.1.0", "castware-operator", "latest", false, ErrBadVersion},
		{"running not semver", "castware-operator", "dev", "castware-operator", "0.2.0", false, ErrBadVersion},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckTarget(c.runName, c.runVersion, c.toName, c.toVers, c.rollback)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("CheckTarget(%s %s -> %s %s, rollback %t) = %v, want %v", c.runName, c.runVersion, c.toName, c.toVers, c.rollback, err, c.want)
			}
		})
	}
}

func TestChartRepositoryFlag(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"default is the project's OCI registry", nil, DefaultChartRepository},
		{"set by the chart", []string{"--self-upgrade-chart-repo=oci://127.0.0.1:5000/charts"}, "oci://127.0.0.1:5000/charts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("operator", flag.ContinueOnError)
			o := BindFlags(fs, func(string) string { return "" })
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			if o.ChartRepository != c.want {
				t.Errorf("ChartRepository %q, want %q", o.ChartRepository, c.want)
			}
		})
	}
	if u := New(nil, nil, nil, nil, nil, Options{}); u.opts.ChartRepository != DefaultChartRepository {
		t.Errorf("New without a chart repository uses %q", u.opts.ChartRepository)
	}
}
