package migration

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"

	castwarev1 "github.com/castware-operator/castware-operator/api/v1alpha1"
	"github.com/castware-operator/castware-operator/internal/charts"
)

// indexCharts is a chart source whose repository index lists chart versions with their appVersions.
type indexCharts struct {
	entries []charts.ChartApp
	err     error
	asked   []string
}

func (c *indexCharts) Load(context.Context, charts.Ref) (*charts.Loaded, error) {
	return nil, errors.New("no archives in this test")
}

func (c *indexCharts) Latest(context.Context, string, string) (string, error) {
	return "", errors.New("not used")
}

func (c *indexCharts) VersionsForAppVersion(_ context.Context, repo, name, appVersion string) ([]string, error) {
	c.asked = append(c.asked, repo+" "+name+" "+appVersion)
	if c.err != nil {
		return nil, c.err
	}
	return charts.MatchAppVersion(c.entries, appVersion), nil
}

// TestScannerResolvesUnlabelledVersions: a YAML agent without a helm.sh/chart label is adopted at the chart
// version whose appVersion is its image tag; when none is, only autoUpgrade adopts it (at the latest) and
// the other modes leave it readonly saying what was looked for.
func TestScannerResolvesUnlabelledVersions(t *testing.T) {
	index := []charts.ChartApp{{Version: "0.150.0", AppVersion: "v0.123.0"}, {Version: "0.151.0", AppVersion: "v0.123.1"},
		{Version: "0.151.1", AppVersion: "0.123.1"}, {Version: "0.160.0", AppVersion: "v0.130.0"}}
	unlabelled := func(image string) *appsv1.Deployment {
		return agentDeployment(func(d *appsv1.Deployment) {
			d.Labels = nil
			d.Spec.Template.Spec.Containers[0].Image = image
		})
	}
	tests := []struct {
		name     string
		mode     castwarev1.MigrationMode
		image    string
		charts   *indexCharts
		version  string
		readonly bool
		note     string // in the version-unknown annotation; "" = no annotation
		noComp   bool
	}{
		{"tag matches an older chart's appVersion: newest such chart", castwarev1.MigrationModeWrite, "agent:v0.123.1",
			&indexCharts{entries: index}, "0.151.1", false, "", false},
		{"tag without v matches an appVersion with v", castwarev1.MigrationModeWrite, "agent:0.123.0",
			&indexCharts{entries: index}, "0.150.0", false, "", false},
		{"read mode keeps the resolved version, readonly", castwarev1.MigrationModeRead, "agent:v0.123.0",
			&indexCharts{entries: index}, "0.150.0", true, "", false},
		{"no chart has the tag: write mode stays readonly", castwarev1.MigrationModeWrite, "agent:v0.99.0",
			&indexCharts{entries: index}, "", true, `no castai-agent chart in https://charts.example/castai has appVersion "v0.99.0"`, false},
		{"no chart has the tag: autoUpgrade adopts at the latest", castwarev1.MigrationModeAutoUpgrade, "agent:v0.99.0",
			&indexCharts{entries: index}, "", false, "", false},
		{"no image tag: readonly", castwarev1.MigrationModeWrite, "agent@sha256:0123",
			&indexCharts{entries: index}, "", true, "no image tag", false},
		{"the repository cannot be asked: nothing adopted yet (retried)", castwarev1.MigrationModeWrite, "agent:v0.123.1",
			&indexCharts{err: errors.New("index unavailable")}, "", false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := testCluster(tt.mode)
			cl.Spec.HelmRepoURL = "https://charts.example/castai"
			s, c := newScanner(t, nil, cl, unlabelled(tt.image))
			s.Charts = tt.charts
			if _, err := s.Reconcile(context.Background(), cl, clusterAPIKey); err != nil {
				t.Fatal(err)
			}
			comp := &castwarev1.Component{}
			err := c.Get(context.Background(), types.NamespacedName{Namespace: testNS, Name: "castai-agent"}, comp)
			if tt.noComp {
				if err == nil {
					t.Fatalf("a Component was created although the repository could not be asked: %+v", comp.Spec)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if comp.Spec.Version != tt.version || comp.Spec.Readonly != tt.readonly {
				t.Fatalf("version %q readonly %v, want %q %v", comp.Spec.Version, comp.Spec.Readonly, tt.version, tt.readonly)
			}
			note, ok := comp.Annotations[AnnotationVersionUnknown]
			if (tt.note == "") == ok || !strings.Contains(note, tt.note) {
				t.Fatalf("version-unknown annotation %q (set %v), want one containing %q", note, ok, tt.note)
			}
		})
	}
}

func TestResolveChartVersion(t *testing.T) {
	res := &indexCharts{entries: []charts.ChartApp{{Version: "1.0.0", AppVersion: "v0.48.2"}}}
	tests := []struct {
		name        string
		ex          Extraction
		res         charts.AppVersionResolver
		version     string
		noteHas     string
		wantErr     bool
		wantLookups []string
	}{
		{"label wins, nothing looked up", Extraction{Version: "2.0.0", ImageTag: "v0.48.2"}, res, "2.0.0", "", false, nil},
		{"tag found", Extraction{ImageTag: "v0.48.2"}, res, "1.0.0", "", false, []string{"repo agent v0.48.2"}},
		{"tag not found", Extraction{ImageTag: "v9"}, res, "", `has appVersion "v9"`, false, []string{"repo agent v9"}},
		{"no resolver", Extraction{ImageTag: "v0.48.2"}, nil, "", "no chart repository", false, nil},
		{"error", Extraction{ImageTag: "v0.48.2"}, &indexCharts{err: errors.New("down")}, "", "", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res.asked = nil
			v, note, err := ResolveChartVersion(context.Background(), tt.res, "repo", "agent", tt.ex)
			if (err != nil) != tt.wantErr || v != tt.version || !strings.Contains(note, tt.noteHas) || (tt.noteHas == "" && note != "") {
				t.Fatalf("= %q, %q, %v; want %q, note with %q, error %v", v, note, err, tt.version, tt.noteHas, tt.wantErr)
			}
			if tt.res == res && !reflect.DeepEqual(res.asked, tt.wantLookups) {
				t.Fatalf("lookups %v, want %v", res.asked, tt.wantLookups)
			}
		})
	}
}
