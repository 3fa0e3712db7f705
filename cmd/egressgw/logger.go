package main

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// accessFlush is how long an access log line may wait in its buffer, as
// Envoy's access_log_flush_interval.
const accessFlush = time.Second

// loggers are the event log and the access log: one format and level, both
// on standard error. Access lines go through a 256 KiB buffer flushed every
// accessFlush and when full, so that a request costs no write system call
// of its own; events are written at once.
type loggers struct {
	log, access *zap.Logger
	buf         *zapcore.BufferedWriteSyncer
}

func newLoggers(format, level string) (*loggers, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	cfg := zap.NewProductionConfig()
	if format == "console" {
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil // every access line is kept
	cfg.DisableStacktrace = true
	cfg.EncoderConfig.TimeKey = "time"
	cfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	log, err := cfg.Build()
	if err != nil {
		return nil, err
	}
	enc := zapcore.NewJSONEncoder(cfg.EncoderConfig)
	if format == "console" {
		enc = zapcore.NewConsoleEncoder(cfg.EncoderConfig)
	}
	buf := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(os.Stderr), Size: 256 << 10, FlushInterval: accessFlush}
	access := zap.New(zapcore.NewCore(enc, buf, cfg.Level)).Named("access")
	return &loggers{log: log, access: access, buf: buf}, nil
}

// close flushes both logs.
func (l *loggers) close() {
	_ = l.buf.Stop()
	_ = l.log.Sync()
}
