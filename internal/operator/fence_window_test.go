package operator

import (
	"testing"
	"time"
)

func TestFenceWindow(t *testing.T) {
	for _, c := range []struct{ lease, retry, renew, want time.Duration }{
		{90 * time.Second, 30 * time.Second, 60 * time.Second, 75 * time.Second}, // the defaults: the T+60 s renewal lands
		{15 * time.Second, 2 * time.Second, 10 * time.Second, 14 * time.Second},  // the fault suite's lease
		{20 * time.Second, 30 * time.Second, 15 * time.Second, 15 * time.Second}, // never below the renew deadline
	} {
		if got := FenceWindow(c.lease, c.retry, c.renew); got != c.want {
			t.Errorf("FenceWindow(%s, %s, %s) = %s, want %s", c.lease, c.retry, c.renew, got, c.want)
		}
		if got := FenceWindow(c.lease, c.retry, c.renew); got >= c.lease && c.renew < c.lease {
			t.Errorf("window %s reaches the lease duration %s: a standby could take over while this leader writes", got, c.lease)
		}
	}
}
