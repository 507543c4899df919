/*
 * The media page's script: seek buttons for the video and a line showing
 * where it is and what the browser has buffered. Opened as
 * media.html?selftest, the page also checks itself
 * (script ran, style sheet applied, image decoded, video seeked near its end
 * and decoded a frame there, a Range fetch answered 206) and reports the
 * result by requesting /report?...; coserve's integration tests read that
 * line from the access log.
 */
(function () {
	"use strict";

	var video = document.getElementById("clip");
	var status = document.getElementById("status");

	function ranges(list) {
		var parts = [];
		for (var i = 0; i < list.length; i++)
			parts.push(list.start(i).toFixed(1) + "–" + list.end(i).toFixed(1) + " s");
		return parts.length ? parts.join(", ") : "nothing";
	}

	function show() {
		var duration = isFinite(video.duration) ? video.duration.toFixed(1) : "?";
		status.textContent = "at " + video.currentTime.toFixed(1) + " of " + duration +
		    " s; buffered: " + ranges(video.buffered);
	}

	["loadedmetadata", "progress", "seeked", "timeupdate"].forEach(function (name) {
		video.addEventListener(name, show);
	});
	document.querySelectorAll("button[data-seek]").forEach(function (button) {
		button.addEventListener("click", function () {
			video.currentTime = parseFloat(button.dataset.seek);
		});
	});

	if (!/[?&]selftest\b/.test(location.search))
		return;

	/* Resolves once event fires on target, or at once if ready() holds. */
	function when(target, event, ready) {
		return new Promise(function (resolve) {
			if (ready())
				resolve();
			else
				target.addEventListener(event, function () { resolve(); }, { once: true });
		});
	}

	var reported = false;
	function report(result) {
		if (reported)
			return;
		reported = true;
		var query = Object.keys(result).map(function (key) {
			return encodeURIComponent(key) + "=" + encodeURIComponent(result[key]);
		}).join("&");
		document.title = "selftest " + query;
		fetch("/report?" + query, { cache: "no-store" }).catch(function () {});
	}

	var result = { js: "ok" };
	var h1 = getComputedStyle(document.querySelector("h1"));
	result.css = h1.color === "rgb(42, 93, 132)" ? "ok" : "bad:" + h1.color;

	var img = document.querySelector("img");
	var imageChecked = when(img, "load", function () { return img.complete; }).then(function () {
		result.img = img.naturalWidth > 0 ? "ok" : "bad";
	});

	var probe = { headers: { Range: "bytes=100-1099" }, cache: "no-store" };
	var rangeChecked = fetch("/clip.webm?range-probe", probe).then(function (response) {
		var contentRange = response.headers.get("Content-Range") || "";
		return response.arrayBuffer().then(function (body) {
			var good = response.status === 206 && body.byteLength === 1000 &&
			    contentRange.indexOf("bytes 100-1099/") === 0;
			result.range = good ? "ok" : "bad:" + response.status + "/" +
			    body.byteLength + "/" + contentRange;
		});
	}).catch(function (error) { result.range = "bad:" + error; });

	var target;
	var seekChecked = when(video, "loadedmetadata", function () {
		return video.readyState >= HTMLMediaElement.HAVE_METADATA;
	}).then(function () {
		target = Math.max(0, video.duration - 1.5);
		var seeked = when(video, "seeked", function () { return false; });
		video.currentTime = target;
		return seeked;
	}).then(function () {
		return when(video, "canplay", function () {
			return video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA;
		});
	}).then(function () {
		result.seek = Math.abs(video.currentTime - target) < 0.5 ? "ok" : "bad:" + video.currentTime;
		/* Only a server that honours Range makes the whole clip seekable. */
		var seekable = video.seekable;
		result.seekable = seekable.length ? seekable.start(0).toFixed(2) + "," +
		    seekable.end(seekable.length - 1).toFixed(2) : "none";
		result.t = video.currentTime.toFixed(2);
	});
	video.addEventListener("error", function () {
		result.seek = "error:" + (video.error ? video.error.code : "?");
		report(result);
	});

	var timeout = new Promise(function (resolve) {
		setTimeout(function () { result.timeout = "yes"; resolve(); }, 20000);
	});
	Promise.race([Promise.all([imageChecked, rangeChecked, seekChecked]), timeout])
	    .then(function () { report(result); });
})();
