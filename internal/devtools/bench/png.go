package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"strings"
)

// writeMemoryPNG draws RSS, its anonymous part and the Go heap against cluster size as a line chart.
func writeMemoryPNG(path string, points []MemoryPoint) error {
	const w, h, left, right, top, bottom = 720, 420, 70, 20, 40, 50
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.White}, image.Point{}, draw.Src)
	axis := color.RGBA{60, 60, 60, 255}
	grid := color.RGBA{225, 225, 225, 255}
	rssColor := color.RGBA{207, 34, 46, 255}
	heapColor := color.RGBA{9, 105, 218, 255}
	anonColor := color.RGBA{130, 80, 223, 255}
	maxPods, maxMB := 1, 64.0
	for _, p := range points {
		maxPods = max(maxPods, p.Pods)
		maxMB = max(maxMB, p.RSSMB*1.1)
	}
	x := func(pods int) int { return left + (w-left-right)*pods/maxPods }
	y := func(mb float64) int { return h - bottom - int(float64(h-top-bottom)*mb/maxMB) }
	for mb := 0.0; mb <= maxMB; mb += 16 {
		line(img, left, y(mb), w-right, y(mb), grid)
		text(img, 8, y(mb)-3, fmt.Sprintf("%3.0fMIB", mb), axis)
	}
	target := color.RGBA{154, 103, 0, 255}
	dashed(img, left, y(64), w-right, y(64), target)
	text(img, left+8, y(64)-12, "64MIB TARGET", target)
	line(img, left, top, left, h-bottom, axis)
	line(img, left, h-bottom, w-right, h-bottom, axis)
	for _, p := range points {
		label := fmt.Sprintf("%d", p.Pods)
		lx := min(x(p.Pods)-4*len(label), w-2-8*len(label)) // centred, kept inside the image
		text(img, lx, h-bottom+10, label, axis)
	}
	text(img, w/2-40, h-18, "PODS IN CLUSTER", axis)
	text(img, left, 12, "CASTWARE-OPERATOR MEMORY", axis)
	series := func(vals func(MemoryPoint) float64, c color.RGBA) {
		for i := range points {
			px, py := x(points[i].Pods), y(vals(points[i]))
			square(img, px, py, 3, c)
			if i > 0 {
				line(img, x(points[i-1].Pods), y(vals(points[i-1])), px, py, c)
			}
		}
	}
	series(func(p MemoryPoint) float64 { return p.RSSMB }, rssColor)
	series(func(p MemoryPoint) float64 { return p.AnonMB }, anonColor)
	series(func(p MemoryPoint) float64 { return p.HeapMB }, heapColor)
	legend := []struct {
		name string
		c    color.RGBA
	}{{"RSS", rssColor}, {"ANONYMOUS", anonColor}, {"GO HEAP", heapColor}}
	lx := w - right - 290
	for _, l := range legend {
		square(img, lx, 16, 4, l.c)
		text(img, lx+10, 12, l.name, l.c)
		lx += 20 + 8*len(l.name)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return png.Encode(f, img)
}

func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func dashed(img *image.RGBA, x0, y0, x1, _ int, c color.RGBA) {
	for x := x0; x < x1; x += 10 {
		line(img, x, y0, min(x+5, x1), y0, c)
	}
}

func square(img *image.RGBA, cx, cy, r int, c color.RGBA) {
	draw.Draw(img, image.Rect(cx-r, cy-r, cx+r+1, cy+r+1), &image.Uniform{c}, image.Point{}, draw.Src)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// glyphs is a 3×5 pixel font for the chart's labels (digits, capitals and a few signs).
var glyphs = map[rune]string{
	'0': "111101101101111", '1': "010110010010111", '2': "111001111100111", '3': "111001111001111", '4': "101101111001001",
	'5': "111100111001111", '6': "111100111101111", '7': "111001001001001", '8': "111101111101111", '9': "111101111001111",
	'A': "010101111101101", 'B': "110101110101110", 'C': "011100100100011", 'D': "110101101101110", 'E': "111100110100111",
	'F': "111100110100100", 'G': "011100101101011", 'H': "101101111101101", 'I': "111010010010111", 'K': "101101110101101",
	'L': "100100100100111", 'M': "101111111101101", 'N': "110101101101101", 'O': "010101101101010", 'P': "110101110100100",
	'R': "110101110101101", 'S': "011100010001110", 'T': "111010010010010", 'U': "101101101101111", 'W': "101101111111101",
	'Y': "101101010010010", '-': "000000111000000", ' ': "000000000000000", '.': "000000000000010",
}

// text draws s at (x, y) with the 3×5 font scaled 2×.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range strings.ToUpper(s) {
		g, ok := glyphs[r]
		if !ok {
			g = glyphs[' ']
		}
		for i, bit := range g {
			if bit == '1' {
				px, py := x+(i%3)*2, y+(i/3)*2
				draw.Draw(img, image.Rect(px, py, px+2, py+2), &image.Uniform{c}, image.Point{}, draw.Src)
			}
		}
		x += 8
	}
}
