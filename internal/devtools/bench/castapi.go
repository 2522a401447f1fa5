package bench

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/castware-operator/castware-operator/internal/castai/fake"
)

// arrival is one request to the fake Cast AI API, stamped when it arrived.
type arrival struct {
	at   time.Time
	path string
}

// castAPI serves the fake Cast AI API on loopback and stamps every request on arrival. The fake records a
// call when it has answered, so a poll it is still holding would be missing from a window; arrivals are
// complete.
type castAPI struct {
	*fake.Server
	ts *httptest.Server

	mu       sync.Mutex
	arrivals []arrival
}

// startCastAPI starts the fake on a loopback port behind the arrival recorder.
func startCastAPI(opts ...fake.Option) *castAPI {
	a := &castAPI{Server: fake.New(opts...)}
	a.ts = httptest.NewServer(http.HandlerFunc(a.serve))
	return a
}

func (a *castAPI) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.arrivals = append(a.arrivals, arrival{at: time.Now(), path: r.URL.Path})
	a.mu.Unlock()
	a.Server.ServeHTTP(w, r)
}

// URL is the API's base URL.
func (a *castAPI) URL() string { return a.ts.URL }

// Close releases held polls, then stops serving.
func (a *castAPI) Close() {
	a.Server.Close()
	a.ts.Close()
}

// between counts the requests that arrived in [from, to), in all and by shortened path.
func (a *castAPI) between(from, to time.Time) (int, map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, by := 0, map[string]int{}
	for _, c := range a.arrivals {
		if !c.at.Before(from) && c.at.Before(to) {
			n++
			by[shortPath(c.path)]++
		}
	}
	return n, by
}
