package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Shot saves a PNG screenshot of the whole page, beyond the window, as
// name.png in the test's screenshot directory, logs its path and returns
// it. The directory is named after the test, under CDP_SCREENSHOT_DIR if
// set (for CI to keep), else under $TMPDIR/cdp-screenshots: unlike
// t.TempDir, it outlives the test. A later shot of the same name and test
// replaces the file.
func (b *Browser) Shot(t testing.TB, name string) string {
	t.Helper()
	path, err := b.saveShot(t, name)
	if err != nil {
		t.Fatalf("browsertest: Shot(%q) on %s: %v", name, b.location(), err)
	}
	t.Logf("browsertest: screenshot %s", path)
	return path
}

// saveShot saves the screenshot for [Browser.Shot] and returns its path.
func (b *Browser) saveShot(t testing.TB, name string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, RunTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "", err
	}
	dir := ScreenshotDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, sanitize(name)+".png")
	return path, os.WriteFile(path, png, 0o644)
}

// ScreenshotDir returns the directory where [Browser.Shot] saves the test's
// screenshots: a folder named after the test under CDP_SCREENSHOT_DIR, or
// under $TMPDIR/cdp-screenshots when that is not set.
func ScreenshotDir(t testing.TB) string {
	base := os.Getenv("CDP_SCREENSHOT_DIR")
	if base == "" {
		base = filepath.Join(os.TempDir(), "cdp-screenshots")
	}
	return filepath.Join(base, sanitize(t.Name()))
}

// sanitize makes s a file name: letters, digits, '.', '-' and '_' stay,
// anything else (such as the '/' of a subtest) becomes '_'.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
	if strings.Trim(s, ".") == "" {
		return "_" + s
	}
	return s
}
