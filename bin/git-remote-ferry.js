#!/usr/bin/env node
import '../dist/client/remote-helper/main.js';
