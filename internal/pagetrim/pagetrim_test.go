package pagetrim

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReadOnlyMappings(t *testing.T) {
	const exe = "/usr/local/bin/castware-operator"
	maps := strings.Join([]string{
		"00400000-01e48000 r-xp 00000000 08:01 1234 " + exe,
		"01e48000-027d7000 r--p 01a48000 08:01 1234 " + exe,
		"027d7000-02810000 rw-p 023d7000 08:01 1234 " + exe,
		"02810000-02900000 rw-p 00000000 00:00 0 ",
		"7f0000000000-7f0000100000 r--p 00000000 08:01 99 /usr/lib/other.so",
		"7f0000200000-7f0000300000 r--p 00000000 08:01 1234 " + exe + " (deleted)",
		"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]",
	}, "\n")
	got, err := ReadOnlyMappings(strings.NewReader(maps), exe)
	if err != nil {
		t.Fatal(err)
	}
	want := []Range{{0x400000, 0x1e48000}, {0x1e48000, 0x27d7000}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("range %d: got %#x-%#x, want %#x-%#x", i, got[i].Start, got[i].End, want[i].Start, want[i].End)
		}
	}
}

func TestReadOnlyMappingsMalformed(t *testing.T) {
	for _, line := range []string{
		"zz-01 r-xp 0 08:01 1 /bin/x",
		"0400000 r-xp 0 08:01 1 /bin/x",
		"02000-01000 r-xp 0 08:01 1 /bin/x",
	} {
		if _, err := ReadOnlyMappings(strings.NewReader(line), "/bin/x"); err == nil {
			t.Errorf("%q: no error", line)
		}
	}
}

func TestDecide(t *testing.T) {
	const mib = 1 << 20
	tr := Trimmer{Busy: 250 * time.Millisecond, Slack: 20 * mib}
	idle, busy := 40*time.Millisecond, 400*time.Millisecond
	for _, c := range []struct {
		name  string
		floor int64
		s     Sample
		trim  bool
	}{
		{"start-up, quiet: trim what init touched", 0, Sample{idle, 50 * mib}, true},
		{"start-up, still busy: wait", 0, Sample{busy, 50 * mib}, false},
		{"idle: what an idle operator touches again stays", 3 * mib, Sample{idle, 18 * mib}, false},
		{"a burst is going on", 3 * mib, Sample{busy, 50 * mib}, false},
		{"the burst is over", 3 * mib, Sample{idle, 50 * mib}, true},
		{"a light reconcile, not a burst, touched much: trim", 3 * mib, Sample{200 * time.Millisecond, 30 * mib}, true},
	} {
		if got := tr.Decide(c.floor, c.s); got != c.trim {
			t.Errorf("%s: Decide(%d, %+v) = %v, want %v", c.name, c.floor, c.s, got, c.trim)
		}
	}
}

func TestParseStatmShared(t *testing.T) {
	got, err := parseStatmShared("305412 21050 13600 6290 0 40412 0\n", 4096)
	if err != nil || got != 13600*4096 {
		t.Fatalf("got %d, %v", got, err)
	}
	for _, bad := range []string{"", "1 2", "1 2 x", "1 2 -3"} {
		if _, err := parseStatmShared(bad, 4096); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestTrimReleasesResidentPages touches the test binary's pages, trims and checks that the kernel took
// most of the file-backed resident memory back.
func TestTrimReleasesResidentPages(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe) // the whole file into the page cache, so fault-around maps widely
	if err != nil {
		t.Fatal(err)
	}
	_ = data
	touchText()
	before := rssFile(t)
	covered, err := Trim()
	if err != nil {
		t.Fatalf("Trim: %v", err)
	}
	after := rssFile(t)
	t.Logf("RssFile %d KiB before, %d KiB after; %d KiB of mappings covered", before, after, covered>>10)
	if covered == 0 {
		t.Fatal("Trim covered no mapping of the executable")
	}
	if after > before/2 {
		t.Fatalf("RssFile went from %d KiB to %d KiB: the binary's pages were not handed back", before, after)
	}
}

// touchText runs code all over the binary (the standard library's formatting, parsing and reflection).
func touchText() {
	for i := 0; i < 100; i++ {
		_ = strconv.Quote(strings.Repeat("x", i))
		_, _ = time.Parse(time.RFC3339, "2026-12-06T13:50:45Z")
	}
}

func rssFile(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
