#pragma once

#include "pool/backend.hpp"
#include "pool/blocking.hpp"
#include "pool/client.hpp"
#include "pool/config.hpp"
#include "pool/error.hpp"
#include "pool/health.hpp"
#include "pool/io_scheduler.hpp"
#include "pool/pool.hpp"
#include "pool/protocol.hpp"
#include "pool/settings.hpp"
#include "pool/settings_diff.hpp"
#include "pool/types.hpp"
