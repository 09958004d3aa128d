package server_test

import "github.com/c1mhq/c1m/hub"

type hubCfg = hub.Config
