//go:build ignore

// favicon_gen draws static/favicon.ico: a 32x32 dark tile with three log
// lines in the UI's level colours, as a PNG inside an ICO container (which
// every browser reads). Run from ui/: go run favicon_gen.go
package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
)

func main() {
	const size = 32
	pal := color.Palette{
		color.RGBA{0, 0, 0, 0},         // transparent corners
		color.RGBA{15, 23, 42, 255},    // tile
		color.RGBA{74, 222, 128, 255},  // info line
		color.RGBA{251, 191, 36, 255},  // warn line
		color.RGBA{248, 113, 113, 255}, // error line
	}
	img := image.NewPaletted(image.Rect(0, 0, size, size), pal)
	for y := range size {
		for x := range size {
			// A tile with corners cut by a radius of 5.
			dx, dy := max(5-x, x-(size-6), 0), max(5-y, y-(size-6), 0)
			if dx*dx+dy*dy <= 25 {
				img.SetColorIndex(x, y, 1)
			}
		}
	}
	bar := func(y, x1 int, c uint8) {
		for yy := y; yy < y+4; yy++ {
			for x := 7; x < x1; x++ {
				img.SetColorIndex(x, yy, c)
			}
		}
	}
	bar(8, 25, 2)
	bar(14, 20, 3)
	bar(20, 23, 4)

	var pngData bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&pngData, img); err != nil {
		log.Fatal(err)
	}
	var ico bytes.Buffer
	// ICONDIR: reserved, type 1 (icon), one image.
	binary.Write(&ico, binary.LittleEndian, [3]uint16{0, 1, 1})
	// ICONDIRENTRY: width, height, colours, reserved, planes, bpp, size, offset.
	ico.Write([]byte{size, size, 0, 0})
	binary.Write(&ico, binary.LittleEndian, [2]uint16{1, 32})
	binary.Write(&ico, binary.LittleEndian, [2]uint32{uint32(pngData.Len()), 6 + 16})
	ico.Write(pngData.Bytes())
	if err := os.WriteFile("static/favicon.ico", ico.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
