package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// latencyStats summarises action latencies.
type latencyStats struct {
	// N is the number of samples.
	N int
	// Mean is their arithmetic mean.
	Mean time.Duration
	// P95 is the nearest-rank 95th percentile: the sample of rank ceil(0.95·N).
	P95 time.Duration
	// P95Rank is that rank (N when the p95 is the maximum, as for fewer than 20 samples).
	P95Rank int
	// Max is the largest sample.
	Max time.Duration
}

// summarise computes the stats of ds (zero for none).
func summarise(ds []time.Duration) latencyStats {
	if len(ds) == 0 {
		return latencyStats{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	rank := int(math.Ceil(0.95 * float64(len(sorted))))
	return latencyStats{N: len(sorted), Mean: sum / time.Duration(len(sorted)), P95: sorted[rank-1], P95Rank: rank, Max: sorted[len(sorted)-1]}
}

// pauseSchedule draws n pauses uniformly in [0, maxPause] at millisecond resolution from a fixed seed, so
// every run spaces its console actions the same way.
func pauseSchedule(seed uint64, n int, maxPause time.Duration) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(rng.Int64N(maxPause.Milliseconds()+1)) * time.Millisecond
	}
	return out
}
