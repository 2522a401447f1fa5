package bench

import (
	"slices"
	"testing"
	"time"
)

func TestSummarise(t *testing.T) {
	var ds []time.Duration
	for i := 10; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Second)
	}
	st := summarise(ds)
	if st.N != 10 || st.Mean != 5500*time.Millisecond || st.Max != 10*time.Second {
		t.Fatalf("summarise(1..10 s) = %+v", st)
	}
	if st.P95Rank != 10 || st.P95 != 10*time.Second {
		t.Fatalf("p95 of 10 samples should be the slowest (rank 10), got rank %d = %s", st.P95Rank, st.P95)
	}
	if ds[0] != 10*time.Second {
		t.Fatal("summarise reordered its input")
	}
	var twenty []time.Duration
	for i := 1; i <= 20; i++ {
		twenty = append(twenty, time.Duration(i)*time.Second)
	}
	if st := summarise(twenty); st.P95Rank != 19 || st.P95 != 19*time.Second {
		t.Fatalf("p95 of 20 samples: rank %d = %s, want rank 19 = 19s", st.P95Rank, st.P95)
	}
	if st := summarise(nil); st.N != 0 || st.Mean != 0 {
		t.Fatalf("summarise(nil) = %+v", st)
	}
}

func TestPauseScheduleIsSeededAndBounded(t *testing.T) {
	a, b := pauseSchedule(1605, 10, 20*time.Second), pauseSchedule(1605, 10, 20*time.Second)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different pauses: %v vs %v", a, b)
	}
	if slices.Equal(a, pauseSchedule(1606, 10, 20*time.Second)) {
		t.Fatal("different seeds gave the same pauses")
	}
	for _, p := range a {
		if p < 0 || p > 20*time.Second || p%time.Millisecond != 0 {
			t.Fatalf("pause %s outside [0, 20s] or finer than a millisecond", p)
		}
	}
}
