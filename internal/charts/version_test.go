package charts

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

func TestSelectVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		versions []string
		want     string
		wantPick string // "" means not found
	}{
		{"exact", []string{"1.0.0", "1.1.0"}, "1.0.0", "1.0.0"},
		{"exact pre-release", []string{"1.0.0", "2.0.0-rc.1"}, "2.0.0-rc.1", "2.0.0-rc.1"},
		{"exact missing", []string{"1.0.0", "1.1.0"}, "1.2.0", ""},
		{"exact does not match a range", []string{"1.0.0", "1.1.0"}, "^1.0.0", ""},
		{"exact prefers identical string", []string{"v1.0.0", "1.0.0"}, "1.0.0", "1.0.0"},
		{"v prefix is the same version", []string{"v1.0.0"}, "1.0.0", "v1.0.0"},
		{"build metadata must match", []string{"1.0.0+a"}, "1.0.0+b", ""},
		{"build metadata matches", []string{"1.0.0", "1.0.0+a"}, "1.0.0+a", "1.0.0+a"},
		{"exact malformed string", []string{"banana"}, "banana", "banana"},
		{"latest", []string{"1.0.0", "1.10.0", "1.9.0"}, "", "1.10.0"},
		{"latest skips pre-release", []string{"1.0.0", "2.0.0-rc.1"}, "", "1.0.0"},
		{"latest skips malformed", []string{"zzz", "1.0.0", "", "1.0.0.0.0"}, "", "1.0.0"},
		{"latest only pre-releases", []string{"1.0.0-alpha"}, "", ""},
		{"latest empty", nil, "", ""},
		{"latest tie break is order independent", []string{"v1.0.0", "1.0.0"}, "", "1.0.0"},
		{"latest lenient versions", []string{"1.2", "1.1.9"}, "", "1.2"},
		{"latest prefers the full form of a version", []string{"0.2", "0.2.0", "0.1.0"}, "", "0.2.0"},
		{"latest prefers the full form whatever the order", []string{"0.2.0", "0.2"}, "", "0.2.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i, ok := selectVersion(tc.versions, tc.want)
			if tc.wantPick == "" {
				if ok {
					t.Fatalf("selectVersion(%q, %q) picked %q, want none", tc.versions, tc.want, tc.versions[i])
				}
				return
			}
			if !ok || tc.versions[i] != tc.wantPick {
				t.Fatalf("selectVersion(%q, %q) = %d, %v; want %q", tc.versions, tc.want, i, ok, tc.wantPick)
			}
		})
	}
}

func TestDescribeAvailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		versions []string
		want     string
	}{
		{nil, "no versions available"},
		{[]string{"1.0.0", "2.0.0-rc.1", "junk"}, "available versions: 2.0.0-rc.1, 1.0.0"},
		{[]string{"1", "2", "3", "4", "5", "6", "6"}, "available versions: 6, 5, 4, 3, 2 (and 1 more)"},
		{[]string{"b", "a"}, "available versions: a, b"},
	}
	for _, tc := range tests {
		if got := describeAvailable(tc.versions); got != tc.want {
			t.Errorf("describeAvailable(%q) = %q, want %q", tc.versions, got, tc.want)
		}
	}
	if err := versionNotFound([]string{"1.0.0"}, "2.0.0"); !errors.Is(err, ErrVersionNotFound) {
		t.Errorf("versionNotFound does not wrap ErrVersionNotFound: %v", err)
	}
}

// FuzzSelectVersion checks the invariants of version selection on arbitrary
// comma-separated version lists.
func FuzzSelectVersion(f *testing.F) {
	f.Add("1.0.0,1.1.0,2.0.0-rc.1", "")
	f.Add("1.0.0,1.1.0,2.0.0-rc.1", "1.1.0")
	f.Add("v1.0.0,1.0.0,1.0.0+build", "")
	f.Add("not-a-version,,1.2,1.2.0", "1.2.0")
	f.Add("1.0.0-alpha,1.0.0-beta", "")
	f.Add("0.0.0,99999999999999999999.0.0", "")
	f.Fuzz(func(t *testing.T, list, want string) {
		versions := strings.Split(list, ",")
		i, ok := selectVersion(versions, want)
		if ok && (i < 0 || i >= len(versions)) {
			t.Fatalf("index %d out of range", i)
		}
		if want != "" {
			if slices.Contains(versions, want) {
				if !ok || versions[i] != want {
					t.Fatalf("exact %q present but picked %v/%v", want, i, ok)
				}
			}
			if ok && !sameVersion(versions[i], want) {
				t.Fatalf("picked %q for %q", versions[i], want)
			}
			return
		}
		// Latest: the pick is the greatest stable version, and no stable version exists otherwise.
		var stable []*semver.Version
		for _, v := range versions {
			if sv, err := semver.NewVersion(v); err == nil && sv.Prerelease() == "" {
				stable = append(stable, sv)
			}
		}
		if !ok {
			if len(stable) > 0 {
				t.Fatalf("no pick although %d stable versions exist", len(stable))
			}
			return
		}
		picked, err := semver.NewVersion(versions[i])
		if err != nil || picked.Prerelease() != "" {
			t.Fatalf("picked unparsable or pre-release %q", versions[i])
		}
		for _, sv := range stable {
			if sv.GreaterThan(picked) {
				t.Fatalf("picked %q but %q is greater", versions[i], sv.Original())
			}
		}
		// The result must not depend on the order of the list.
		reversed := slices.Clone(versions)
		slices.Reverse(reversed)
		j, ok2 := selectVersion(reversed, "")
		if !ok2 || reversed[j] != versions[i] {
			t.Fatalf("order dependent: %q vs %q", versions[i], reversed[j])
		}
	})
}
