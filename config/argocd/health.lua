-- Argo CD health check of a SpanSink (tracing.spansink.dev/SpanSink).
-- It reads what kstatus reads, in kstatus's order, so that Argo CD and
-- Flux agree: a status for an older generation is still in progress;
-- Stalled=True (the operator waits on a person) is Degraded;
-- Reconciling=True is Progressing; both False is Healthy.
local hs = {status = "Progressing", message = "Waiting for the operator to report on this generation"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local function find(condType)
  for _, c in ipairs(obj.status.conditions) do
    if c.type == condType then
      return c
    end
  end
  return nil
end
local reconciling = find("Reconciling")
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  if reconciling ~= nil and reconciling.status == "True" then
    hs.message = reconciling.reason .. ": " .. reconciling.message
  end
  return hs
end
local stalled = find("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. stalled.message
  return hs
end
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = reconciling.reason .. ": " .. reconciling.message
  return hs
end
if reconciling ~= nil and reconciling.status == "False" then
  hs.status = "Healthy"
  hs.message = reconciling.message
end
return hs
