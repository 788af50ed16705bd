-- Argo CD health check for corral.run/RunnerPool (docs/argocd.md).
-- Maps the pool's conditions (api/v1alpha1/conditions.go) to an Argo CD health status:
--   Stalled=True                                   -> Degraded (a user must fix something)
--   ScalingBlocked=True, reason needing a user     -> Degraded
--   ScalingBlocked=True, transient reason          -> Progressing
--   Ready=True                                     -> Healthy
--   Ready reason Paused (maxRunners 0)             -> Suspended
--   spec not yet reconciled, or Ready not True     -> Progressing
-- Stalled and ScalingBlocked count only when written for the current generation.
-- Argo CD runs custom health checks without Lua's string library: plain comparisons only.

local hs = {status = "Progressing", message = "Waiting for the controller to report status"}

-- Reasons of ScalingBlocked that do not clear without a user's change.
local needsUser = {
  CredentialsInvalid = true,
  PermissionDenied = true,
  AdmissionRejected = true,
  RunnerVersionDeprecated = true,
  RunnerFailures = true,
}

local function describe(c)
  local text = c.reason or c.type
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

if obj.status == nil or obj.status.conditions == nil then
  return hs
end

local generation = (obj.metadata and obj.metadata.generation) or 0
local observed = obj.status.observedGeneration or 0

-- A condition written for an older generation says nothing about the current spec.
local function current(c)
  return c.observedGeneration == nil or c.observedGeneration >= generation
end

local ready, stalled, blocked
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then
    ready = c
  elseif c.type == "Stalled" and c.status == "True" and current(c) then
    stalled = c
  elseif c.type == "ScalingBlocked" and c.status == "True" and current(c) then
    blocked = c
  end
end

if stalled ~= nil then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

if blocked ~= nil then
  if needsUser[blocked.reason] then
    hs.status = "Degraded"
  else
    hs.status = "Progressing"
  end
  hs.message = describe(blocked)
  return hs
end

if observed < generation then
  hs.message = "Waiting for the controller to reconcile generation " .. generation
  return hs
end

if ready == nil then
  return hs
end

if ready.reason == "Paused" then
  hs.status = "Suspended"
  hs.message = describe(ready)
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
else
  hs.status = "Progressing"
end
hs.message = describe(ready)
return hs
