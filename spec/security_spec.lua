-- Security promises, checked against the real local exchange:
-- * TLS is verified by default: a self-signed, an expired and a wrong-host
--   certificate are refused (Failed, tls_failed, OpenSSL's reason) before a
--   single FIX byte is sent; the right CA works.
-- * Credentials never show: with every trace on (the client's trace hook and
--   the exchange's --trace), neither password nor the registration token nor
--   the registration body appears in any trace line, error message, on_state
--   reason or in the exchange's stderr.
local bt = require("betatrader")
local testing = require("betatrader.testing")

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function sh(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  assert(ok, "command failed: " .. cmd)
end

local function write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function temp_dir()
  local name = os.tmpname()
  os.remove(name)
  sh("mkdir -m 700 " .. q(name))
  return name
end

-- On top of testing.make_certs' CA and good server certificate: a
-- self-signed one, an expired one and one for another host (both signed by
-- the same CA, so the CA is not what makes them fail). OpenSSL 3.0's x509
-- command cannot set a validity in the past; `openssl ca` with
-- -startdate/-enddate can, given a minimal CA configuration.
local function make_bad_certs(dir, ca, ca_key)
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  local certs = {}
  local self_cnf = dir .. "/self.cnf"
  write_file(self_cnf, table.concat({
    "[req]", "distinguished_name = dn", "prompt = no", "x509_extensions = ext",
    "[dn]", "CN = localhost",
    "[ext]", "basicConstraints = critical, CA:FALSE",
    "subjectAltName = DNS:localhost, IP:127.0.0.1", "",
  }, "\n"))
  certs.self = { cert = dir .. "/self.pem", key = dir .. "/self.key" }
  sh(("openssl req -x509 %s -config %s -days 2 -keyout %s -out %s")
    :format(ec, q(self_cnf), q(certs.self.key), q(certs.self.cert)))

  sh("mkdir -p " .. q(dir .. "/cadb"))
  write_file(dir .. "/cadb/index.txt", "")
  write_file(dir .. "/cadb/serial", "1000\n")
  local ca_cnf = dir .. "/ca.cnf"
  write_file(ca_cnf, table.concat({
    "[ca]", "default_ca = test_ca",
    "[test_ca]", "database = " .. dir .. "/cadb/index.txt",
    "new_certs_dir = " .. dir .. "/cadb", "serial = " .. dir .. "/cadb/serial",
    "default_md = sha256", "policy = any", "unique_subject = no",
    "copy_extensions = none",
    "[any]", "commonName = supplied",
    "[good_name]", "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature, keyEncipherment",
    "extendedKeyUsage = serverAuth", "subjectAltName = DNS:localhost, IP:127.0.0.1",
    "[wrong_name]", "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature, keyEncipherment",
    "extendedKeyUsage = serverAuth", "subjectAltName = DNS:wrong.example", "",
  }, "\n"))
  local function signed(name, cn, ext, dates)
    local key, csr, cert = dir .. "/" .. name .. ".key", dir .. "/" .. name .. ".csr",
      dir .. "/" .. name .. ".pem"
    sh(("openssl req %s -subj %s -keyout %s -out %s"):format(ec, q("/CN=" .. cn), q(key), q(csr)))
    sh(("openssl ca -batch -notext -config %s -cert %s -keyfile %s -extensions %s %s -in %s -out %s")
      :format(q(ca_cnf), q(ca), q(ca_key), ext, dates, q(csr), q(cert)))
    return { cert = cert, key = key }
  end
  certs.expired = signed("expired", "localhost", "good_name",
    "-startdate 20200101000000Z -enddate 20200102000000Z")
  certs.wrong_host = signed("wronghost", "wrong.example", "wrong_name", "-days 2")
  return certs
end

local names = 0
local function username()
  names = names + 1
  return ("sec%d_%d"):format(os.time() % 100000, names)
end

local function new_client(ex, extra)
  local opts = {
    api_url = ex.api_url, fix_host = ex.fix_host, fix_port = ex.fix_port,
    store = false, timeout = 5,
  }
  for k, v in pairs(extra or {}) do
    opts[k] = v
  end
  return bt.client(opts)
end

describe("security", function()
  describe("TLS verification (on by default)", function()
    local dir, ca, good, bad
    setup(function()
      dir = temp_dir()
      local ca_file, cert, key = testing.make_certs(dir)
      ca = ca_file
      good = { cert = cert, key = key }
      bad = make_bad_certs(dir, ca, dir .. "/ca.key")
    end)
    teardown(function()
      if dir then
        os.execute("rm -rf " .. q(dir))
      end
    end)

    -- An exchange serving cert/key, with one registered account; the FIX
    -- trace shows whether any frame got through.
    local function exchange_with(pair)
      local ex = testing.exchange{ tls = { cert = pair.cert, key = pair.key }, args = { "--trace" } }
      local c <close> = new_client(ex)
      local id = assert(c.auth:register(username(), "tls-pw-1"):await())
      return ex, id
    end

    -- The login fails tls_failed with `reason` in the message, the state
    -- says the same, and no FIX frame (so no credential) reached the exchange.
    local function assert_refused(pair, tls, reason)
      local ex, id = exchange_with(pair)
      local c <close> = new_client(ex, { tls = tls })
      local ok, msg, code = c.auth:login(id, "tls-pw-1"):await()
      assert.is_nil(ok)
      assert.equal("tls_failed", code)
      assert.matches(("TLS handshake with 127.0.0.1:%d failed"):format(ex.fix_port), msg, 1, true)
      assert.matches(reason, msg, 1, true)
      assert.same({ "Failed", msg, "tls_failed" }, { c.auth:state() })
      ex:stop()
      assert.not_matches("fix %d+ in:", ex:stderr())
    end

    it("refuses a self-signed certificate with the system CAs", function()
      assert_refused(bad.self, true, "self-signed certificate")
    end)

    it("refuses a self-signed certificate when another CA is given", function()
      assert_refused(bad.self, { ca_file = ca, server_name = "localhost" },
        "self-signed certificate")
    end)

    it("refuses an expired certificate from a trusted CA", function()
      assert_refused(bad.expired, { ca_file = ca, server_name = "localhost" },
        "certificate has expired")
    end)

    it("refuses a certificate for another host name", function()
      assert_refused(bad.wrong_host, { ca_file = ca, server_name = "localhost" },
        "hostname mismatch")
    end)

    it("checks the IP address when no server_name is given", function()
      assert_refused(bad.wrong_host, { ca_file = ca }, "IP address mismatch")
    end)

    it("logs in with the right CA, by host name or by IP address", function()
      local ex, id = exchange_with(good)
      for _, tls in ipairs({ { ca_file = ca, server_name = "localhost" }, { ca_file = ca } }) do
        local c <close> = new_client(ex, { tls = tls })
        assert.is_true(c.auth:login(id, "tls-pw-1"):await())
        assert.equal("Active", c.auth:state())
        assert.is_true(c.auth:logout():await())
      end
      ex:stop()
    end)

    it("trusts a self-signed certificate only when it is given as the CA", function()
      local ex, id = exchange_with(bad.self)
      local c <close> = new_client(ex, { tls = { ca_file = bad.self.cert, server_name = "localhost" } })
      assert.is_true(c.auth:login(id, "tls-pw-1"):await())
      assert.is_true(c.auth:logout():await())
      ex:stop()
    end)
  end)

  describe("credentials never show", function()
    -- Distinctive values: a find() of any of them proves a leak.
    local PW = "Pw-7c1e9a4f-Secret"
    local WRONG = "Wrong-3b8d0e52-Pass"

    it("in traces, errors, state reasons or the exchange's stderr", function()
      local ex = testing.exchange{ args = { "--trace" } }
      local trace, said = {}, {}
      local function note(...)
        for i = 1, select("#", ...) do
          local v = select(i, ...)
          if v ~= nil then
            said[#said + 1] = tostring(v)
          end
        end
      end
      local function traced(dir, frame)
        trace[#trace + 1] = dir .. " " .. frame
      end
      local c <close> = new_client(ex, { trace = traced })
      c.auth:on_state(note)

      local name = username()
      local id, token = c.auth:register(name, PW):await()
      assert.is_string(id)
      assert.is_string(token)
      note(c.auth:register(name, PW):await()) -- taken: 409 with a message
      note(c.auth:state())
      assert.is_table(c.auth:profile():await())

      assert.is_true(c.auth:login(id, PW):await())
      assert.is_true(c.auth:logout():await())
      local ok, msg, code = c.auth:login(id, WRONG):await()
      assert.is_nil(ok)
      assert.equal("rejected", code)
      assert.matches("password incorrect", msg, 1, true)
      note(msg, code, c.auth:state())
      note(c.auth:last_error())
      assert.is_true(c.auth:logout():await())

      -- Username/Password in the Logon (553/554 on 35=A) are redacted too.
      local v <close> = new_client(ex, { trace = traced, logon_username = id, logon_password = PW })
      v.auth:on_state(note)
      assert.is_true(v.auth:login(id, PW):await())
      assert.is_true(v.auth:logout():await())

      -- Misuse errors name the argument, never echo the value.
      for _, bad in ipairs({ PW .. "\1", PW .. "\n" }) do
        local ok2, err = pcall(c.auth.login, c.auth, id, bad)
        assert.is_false(ok2)
        note(err)
      end
      bt.step(0)
      ex:stop()
      local stderr = ex:stderr()

      -- The checks are meaningful: the 35=BE went out, both ways traced.
      local all = table.concat(trace, "\n")
      assert.matches("35=BE", all, 1, true)
      assert.matches("35=BF", all, 1, true)
      assert.matches("554=***", all, 1, true)
      assert.matches("35=BE", stderr, 1, true)
      assert.matches("554=***", stderr, 1, true)
      assert.matches("|35=A|[^\n]*|553=" .. id .. "|554=%*%*%*|", stderr)
      assert.is_true(#said > 5)

      local haystacks = { trace = all, said = table.concat(said, "\n"), stderr = stderr }
      for where, text in pairs(haystacks) do
        for what, secret in pairs({ password = PW, wrong_password = WRONG, token = token }) do
          assert(not text:find(secret, 1, true), what .. " found in " .. where)
        end
      end
      -- The registration body is never logged.
      for _, where in ipairs({ "trace", "stderr" }) do
        for _, pat in ipairs({ '"password"', '"username"', '{"', name }) do
          assert(not haystacks[where]:find(pat, 1, true),
            "registration body (" .. pat .. ") found in " .. where)
        end
      end
    end)
  end)
end)
