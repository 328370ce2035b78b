#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%%
%% Erlang/OTP's hot upgrade of N live gen_servers, done the way release_handler does it, as the
%% baseline for bench/reload_bench.cc (docs/benchmarks.md). Needs Debian's erlang-base.
%%
%%   escript bench/otp_upgrade_bench.escript 1 1000 10000
%%   otp N=10000 upgrade_ms=... pause_ms=... per_actor_us=... lost=0 msg_ns=... ...
%%
%% The module is bench_counter, as bench/bench_counter.cc: version 1 keeps {count, N}, version 2
%% {count2, N, Seen}, and version 2's code_change/3 migrates one into the other. For each N:
%%   - msg_ns: a burst of casts to every server (1,000,000 in all, at least one each), then one
%%     call each; the time per cast;
%%   - a sender process casts to every server in turn throughout, paced at half of that capacity
%%     (1e9 / msg_ns / 2 casts per second, as reload_bench's sender), or at --rate=M;
%%   - the upgrade (upgrade_ms): sys:suspend every server, load version 2 (code:load_binary),
%%     sys:change_code every server (code_change/3 migrates the state), sys:resume every server;
%%     then code:soft_purge of version 1 (soft_purge=, not timed);
%%   - pause_ms: the longest time one server was suspended (from its suspend's return to its
%%     resume's return); per_actor_us: upgrade_ms per server;
%%   - afterwards the sender stops at the end of a round and every server's count is checked
%%     against what it was sent: lost= must be 0.
%%
%% Flags: N... (default 1 1000 10000 100000), --rate=M (the sender's casts per second),
%% --no_load (no sender).

-mode(compile).

main(Args) ->
    {Ns, Opts} = parse(Args, [], #{rate => half_capacity}),
    [run(N, Opts) || N <- case Ns of [] -> [1, 1000, 10000, 100000]; _ -> Ns end],
    ok.

parse([], Ns, Opts) -> {lists:reverse(Ns), Opts};
parse(["--no_load" | T], Ns, Opts) -> parse(T, Ns, Opts#{rate => none});
parse(["--rate=" ++ M | T], Ns, Opts) ->
    case string:to_integer(M) of
        {Rate, ""} when Rate > 0 -> parse(T, Ns, Opts#{rate => Rate});
        _ -> usage("bad rate " ++ M)
    end;
parse([A | T], Ns, Opts) ->
    case string:to_integer(A) of
        {N, ""} when N > 0 -> parse(T, [N | Ns], Opts);
        _ -> usage("bad argument " ++ A)
    end.

usage(Why) ->
    io:format(standard_error, "~s~nusage: otp_upgrade_bench.escript [--rate=M | --no_load] N...~n",
              [Why]),
    halt(2).

%% The module's source for version Vsn, compiled in memory.
module_binary(Vsn) ->
    {State, Init, Tick} =
        case Vsn of
            1 -> {"{count, N}", "{count, 0}", "{count, N + 1}"};
            2 -> {"{count2, N, _}", "{count2, 0, 0}", "{count2, N + 1, Seen + 1}"}
        end,
    TickState = case Vsn of 1 -> "{count, N}"; 2 -> "{count2, N, Seen}" end,
    Src = ["-module(bench_counter).\n",
           "-behaviour(gen_server).\n",
           "-vsn(", integer_to_list(Vsn), ").\n",
           "-export([init/1, handle_call/3, handle_cast/2, code_change/3]).\n",
           "init([]) -> {ok, ", Init, "}.\n",
           "handle_call(get, _From, ", State, " = S) -> {reply, N, S}.\n",
           "handle_cast(tick, ", TickState, ") -> {noreply, ", Tick, "}.\n",
           "code_change(_OldVsn, {count, N}, _Extra) -> {ok, {count2, N, 0}};\n",
           "code_change(_OldVsn, S, _Extra) -> {ok, S}.\n"],
    {ok, Tokens, _} = erl_scan:string(lists:flatten(Src)),
    Forms = split_forms(Tokens, [], []),
    {ok, bench_counter, Bin} = compile:forms(Forms, [binary, return_errors]),
    Bin.

split_forms([], [], Forms) -> lists:reverse(Forms);
split_forms([{dot, _} = Dot | T], Acc, Forms) ->
    {ok, Form} = erl_parse:parse_form(lists:reverse([Dot | Acc])),
    split_forms(T, [], [Form | Forms]);
split_forms([Tok | T], Acc, Forms) -> split_forms(T, [Tok | Acc], Forms).

load(Bin) ->
    {module, bench_counter} = code:load_binary(bench_counter, "bench_counter.erl", Bin).

now_us() -> erlang:monotonic_time(microsecond).

%% Casts `tick` to every server in turn, a whole round at a time, `Rate` casts per second (none:
%% idle, counting a round per millisecond without casting). Counts finished rounds in Rounds;
%% stops at the end of a round when told, and says how many rounds of casts it sent.
sender(Servers, Rate, Rounds) ->
    BatchSize = case Rate of none -> 0; _ -> max(1, Rate div 1000) end,  % casts per millisecond
    sender_loop(Servers, BatchSize, Rounds, now_us(), 0, 0).

sender_loop(Servers, BatchSize, Rounds, Start, Batches, InBatch) ->
    receive
        {stop, From} when BatchSize =:= 0 -> From ! {rounds, 0};
        {stop, From} -> From ! {rounds, counters:get(Rounds, 1)}
    after 0 ->
        case BatchSize of
            0 -> receive after 1 -> ok end;
            _ -> ok
        end,
        {Batches1, InBatch1} =
            cast_round(Servers, 1, tuple_size(Servers), BatchSize, Start, Batches, InBatch),
        counters:add(Rounds, 1, 1),
        sender_loop(Servers, BatchSize, Rounds, Start, Batches1, InBatch1)
    end.

cast_round(_Servers, I, N, BatchSize, _Start, Batches, InBatch) when I > N; BatchSize =:= 0 ->
    {Batches, InBatch};
cast_round(Servers, I, N, BatchSize, Start, Batches, InBatch) ->
    gen_server:cast(element(I, Servers), tick),
    case InBatch + 1 of
        BatchSize ->
            %% Batch number Batches + 1 is due Batches + 1 milliseconds after the start.
            Wait = (Start + (Batches + 1) * 1000 - now_us()) div 1000,
            if Wait > 0 -> receive after Wait -> ok end; true -> ok end,
            cast_round(Servers, I + 1, N, BatchSize, Start, Batches + 1, 0);
        InBatch1 ->
            cast_round(Servers, I + 1, N, BatchSize, Start, Batches, InBatch1)
    end.

run(N, Opts) ->
    code:purge(bench_counter), code:delete(bench_counter), code:purge(bench_counter),
    V1 = module_binary(1),
    V2 = module_binary(2),
    load(V1),
    Pids = [begin {ok, P} = gen_server:start(bench_counter, [], []), P end
            || _ <- lists:seq(1, N)],

    %% Message cost: a burst to every server, then one call each.
    Casts = max(1, 1000000 div N),
    T0 = now_us(),
    lists:foreach(fun(P) -> [gen_server:cast(P, tick) || _ <- lists:seq(1, Casts)] end, Pids),
    [gen_server:call(P, get, infinity) || P <- Pids],
    MsgNs = (now_us() - T0) * 1000 / (Casts * N),

    Rate = case maps:get(rate, Opts) of
               half_capacity -> round(0.5e9 / max(MsgNs, 1.0));
               R -> R
           end,
    Rounds = counters:new(1, []),
    Sender = spawn(fun() -> sender(list_to_tuple(Pids), Rate, Rounds) end),
    LoadStart = now_us(),
    wait_rounds(Rounds, 2),

    %% The upgrade, as release_handler does it.
    U0 = now_us(),
    Suspended = [begin ok = sys:suspend(P, infinity), now_us() end || P <- Pids],
    load(V2),
    [ok = sys:change_code(P, bench_counter, 1, [], infinity) || P <- Pids],
    Resumed = [begin ok = sys:resume(P, infinity), now_us() end || P <- Pids],
    U1 = now_us(),
    Purged = code:soft_purge(bench_counter),
    PauseUs = lists:max(lists:zipwith(fun(S, E) -> E - S end, Suspended, Resumed)),

    RoundsBeforeStop = counters:get(Rounds, 1),
    wait_rounds(Rounds, RoundsBeforeStop + 1),
    Sender ! {stop, self()},
    Sent = receive {rounds, Done} -> Done end,
    LoadUs = now_us() - LoadStart,
    Counts = [gen_server:call(P, get, infinity) || P <- Pids],
    Lost = lists:sum([Casts + Sent - C || C <- Counts]),
    [exit(P, kill) || P <- Pids],

    UpgradeMs = (U1 - U0) / 1000,
    {LoadRate, Achieved} = case Rate of
                               none -> {0, 0};
                               _ -> {Rate, Sent * N * 1.0e6 / LoadUs}
                           end,
    io:format("otp N=~b upgrade_ms=~.3f pause_ms=~.3f per_actor_us=~.3f lost=~b msg_ns=~.1f "
              "soft_purge=~p rounds_during=~b load_msgs_per_s=~b load_achieved_msgs_per_s=~b~n",
              [N, UpgradeMs, PauseUs / 1000, UpgradeMs * 1000 / N, Lost, MsgNs, Purged,
               RoundsBeforeStop, LoadRate, round(Achieved)]).

%% Until the sender has finished at least `Target` rounds (a round of 100,000 casts at the paced
%% rate takes a fraction of a second; polled every millisecond).
wait_rounds(Rounds, Target) ->
    case counters:get(Rounds, 1) >= Target of
        true -> ok;
        false -> receive after 1 -> ok end, wait_rounds(Rounds, Target)
    end.
