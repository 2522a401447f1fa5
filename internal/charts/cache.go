package charts

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// metaEntry is one cached piece of repository metadata.
type metaEntry[T any] struct {
	val          T
	fetched      time.Time
	etag         string
	lastModified string
}

// metaCache caches repository metadata per key for a TTL, shares concurrent
// refreshes and falls back to the stale value when a refresh fails.
type metaCache[T any] struct {
	mu      sync.Mutex
	items   map[string]*metaEntry[T]
	flights flightGroup[*metaEntry[T]]
}

func (c *metaCache[T]) lookup(key string) *metaEntry[T] {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.items[key]
}

func (c *metaCache[T]) store(key string, e *metaEntry[T]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = make(map[string]*metaEntry[T])
	}
	c.items[key] = e
}

// expire makes the entry for key stale, so the next get refreshes it (the stale value stays as a fallback).
func (c *metaCache[T]) expire(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		stale := *e
		stale.fetched = time.Time{}
		c.items[key] = &stale
	}
}

// fetchFunc downloads fresh metadata; prev is the cached entry (possibly
// stale, possibly nil) so that conditional requests can be made.
type fetchFunc[T any] func(ctx context.Context, prev *metaEntry[T]) (*metaEntry[T], error)

// get returns the cached value for key when it is younger than the TTL,
// otherwise refreshes it through a shared flight. A failed refresh returns the
// stale value when there is one; the caller's own cancellation is always
// reported.
func (c *metaCache[T]) get(ctx context.Context, l *Loader, key string, fetch fetchFunc[T]) (T, error) {
	fresh := func(e *metaEntry[T]) bool {
		return e != nil && l.cfg.indexTTL > 0 && l.cfg.clock().Sub(e.fetched) < l.cfg.indexTTL
	}
	if e := c.lookup(key); fresh(e) {
		l.stats.indexCacheHits.Add(1)
		l.cfg.observer.Lookup(CacheIndex, true)
		return e.val, nil
	}
	e, err := c.flights.do(ctx, key, func(fctx context.Context) (*metaEntry[T], error) {
		prev := c.lookup(key)
		if fresh(prev) { // refreshed by a flight that finished just before this one started
			l.stats.indexCacheHits.Add(1)
			l.cfg.observer.Lookup(CacheIndex, true)
			return prev, nil
		}
		l.cfg.observer.Lookup(CacheIndex, false)
		next, err := fetch(fctx, prev)
		if err != nil {
			return nil, err
		}
		c.store(key, next)
		return next, nil
	})
	if err == nil {
		return e.val, nil
	}
	if ctx.Err() == nil {
		if stale := c.lookup(key); stale != nil {
			l.stats.indexStaleServed.Add(1)
			return stale.val, nil
		}
	}
	var zero T
	return zero, err
}

// archiveCache is an LRU of archive bytes bounded by their total size.
type archiveCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order *list.List // front = most recently used; values are *archiveItem
	items map[string]*list.Element
}

type archiveItem struct {
	key  string
	data []byte
}

func newArchiveCache(maxBytes int64) *archiveCache {
	return &archiveCache{max: maxBytes, order: list.New(), items: make(map[string]*list.Element)}
}

// get returns the archive stored under key and marks it recently used.
func (c *archiveCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*archiveItem).data, true
}

// add stores data under key, evicting least recently used archives until the
// total fits. Archives larger than the capacity are not stored.
func (c *archiveCache) add(key string, data []byte) {
	size := int64(len(data))
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.max {
		return
	}
	if el, ok := c.items[key]; ok {
		c.size -= int64(len(el.Value.(*archiveItem).data))
		el.Value.(*archiveItem).data = data
		c.size += size
		c.order.MoveToFront(el)
	} else {
		c.items[key] = c.order.PushFront(&archiveItem{key: key, data: data})
		c.size += size
	}
	for c.size > c.max {
		oldest := c.order.Back()
		item := oldest.Value.(*archiveItem)
		c.order.Remove(oldest)
		delete(c.items, item.key)
		c.size -= int64(len(item.data))
	}
}

// bytes reports the total size of cached archives.
func (c *archiveCache) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
