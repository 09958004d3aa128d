package hub

import "runtime"

func runtimeGosched() { runtime.Gosched() }
